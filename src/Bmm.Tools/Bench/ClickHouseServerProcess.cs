using System.Diagnostics;
using System.Text.Json;
using Bmm.Configuration;
using Bmm.Database;

namespace Bmm.Bench;

/// <summary>
/// The process of bmm's own ClickHouse server on this machine, read from /proc: the server's
/// share of a clickhouse run (its CPU time and resident memory), which the run's own process
/// figures leave out. A server bmm did not start (ClickHouse:Url elsewhere) has none.
/// </summary>
internal sealed class ClickHouseServerProcess(int pid)
{
    private const string ConfigArgument = "--config-file=";

    public int Pid => pid;

    /// <summary>
    /// The embedded server answering at <paramref name="options"/>' first Url: a process started
    /// with a configuration whose folder's state file names that port and that process.
    /// </summary>
    public static ClickHouseServerProcess? Find(ClickHouseOptions options)
    {
        if (!OperatingSystem.IsLinux() || !Uri.TryCreate(options.Nodes.FirstOrDefault(), UriKind.Absolute, out var url) || !url.IsLoopback) return null;
        foreach (var folder in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(folder), out var pid)) continue;
            try
            {
                var config = File.ReadAllText(Path.Combine(folder, "cmdline")).Split('\0').FirstOrDefault(a => a.StartsWith(ConfigArgument, StringComparison.Ordinal));
                if (config is null) continue;
                var stateFile = Path.Combine(Path.GetDirectoryName(config[ConfigArgument.Length..])!, "embedded.json");
                if (!File.Exists(stateFile)) continue;
                var state = JsonSerializer.Deserialize(File.ReadAllText(stateFile), EmbeddedClickHouseStateJson.Default.State);
                if (state is not null && state.HttpPort == url.Port && state.Pid == pid) return new ClickHouseServerProcess(pid);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
            {
                // A process that exited meanwhile, or a folder that is not ours to read.
            }
        }
        return null;
    }

    /// <summary>User and system CPU time of every thread of the server so far (/proc/PID/stat).</summary>
    public TimeSpan CpuTime()
    {
        using var process = Process.GetProcessById(pid);
        return process.TotalProcessorTime;
    }

    /// <summary>
    /// Resets the peak resident set (VmHWM) to the current one, so that the peak read after a run
    /// is that run's; false where the kernel refuses (the server then reports its RSS after the run).
    /// </summary>
    public bool ResetPeak()
    {
        try
        {
            File.WriteAllText($"/proc/{pid}/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Resident memory now (VmRSS) and its peak (VmHWM), from /proc/PID/status.</summary>
    public (long Resident, long Peak) Memory()
    {
        using var process = Process.GetProcessById(pid);
        return (process.WorkingSet64, process.PeakWorkingSet64);
    }
}
