using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Bmm.Bench;

/// <summary>
/// <c>bmm follow</c> as a child process, started the way <see cref="TrialProcess"/> starts a run
/// and stopped as an operator would stop it: SIGTERM, then a kill if it does not exit.
/// </summary>
internal sealed class FollowerProcess : IAsyncDisposable
{
    private const int SigTerm = 15;
    private const int KeptLines = 20;
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(15);

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lastLines = new();

    private FollowerProcess(Process process) => _process = process;

    /// <summary>Starts following the database; it polls every second, as the scenario's configuration says.</summary>
    public static FollowerProcess Start(string? product, string connectionString)
    {
        var info = TrialProcess.ProductInvocation(product);
        info.ArgumentList.Add("follow");
        info.Environment["BMM_CONNECTION"] = connectionString;
        info.Environment["BMM_Follow__PollSeconds"] = "1";
        // No /metrics endpoint: a benchmark beside a running follow or serve must not fight over a port.
        info.Environment["BMM_Follow__MetricsUrl"] = "";
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start bmm follow.");
        var follower = new FollowerProcess(process);
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => follower.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return follower;
    }

    public bool HasExited => _process.HasExited;

    /// <summary>The follower's last log lines, to explain why it stopped.</summary>
    public string LastOutput => string.Join('\n', _lastLines);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            // SIGTERM cancels its in-flight transaction and exits 0; Process.Kill would be SIGKILL.
            if (OperatingSystem.IsWindows() || SysKill(_process.Id, SigTerm) != 0) _process.Kill(entireProcessTree: true);
            using var timeout = new CancellationTokenSource(StopTimeout);
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync(CancellationToken.None);
            }
        }
        _process.Dispose();
    }

    private void Keep(string? line)
    {
        if (line is null) return;
        _lastLines.Enqueue(line);
        while (_lastLines.Count > KeptLines) _lastLines.TryDequeue(out _);
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SysKill(int pid, int signal);
}
