using System.Diagnostics;

namespace Bmm.Bench;

/// <summary>
/// Runs <c>bmm run --json</c> (or <c>bmm backfill --json</c>) as a child process, so that each
/// strategy's time is taken inside its own job and its peak memory is that process's alone.
/// </summary>
internal static class TrialProcess
{
    /// <summary>What the run reported, what it logged, and how long its process lived.</summary>
    public sealed record RunOutput(Cli.RunJson Json, string Error, double ProcessSeconds);

    /// <summary>The pseudo-strategy that runs <c>bmm backfill</c> instead of a strategy's run.</summary>
    public const string Backfill = "backfill";

    /// <summary>One run; <c>environment</c> holds the settings it needs beside its connection (the clickhouse strategy's ClickHouse), as BMM_ variables.</summary>
    public static async Task<RunOutput?> RunAsync(string? product, string connectionString, string strategy, DateTimeOffset clock, TimeSpan timeout,
        IReadOnlyDictionary<string, string>? environment, CancellationToken cancellationToken)
    {
        var info = ProductInvocation(product);
        string[] arguments = strategy == Backfill
            ? ["backfill", "--json"]
            : ["run", "--strategy", strategy, "--json", "--clock", clock.ToString("O")];
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        info.Environment["BMM_CONNECTION"] = connectionString;
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        var started = Stopwatch.GetTimestamp();
        using var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start a bmm run.");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            cancellationToken.ThrowIfCancellationRequested();
            return null;
        }
        var processSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var text = (await output).Trim();
        if (!text.StartsWith('{'))
            throw new InvalidOperationException($"bmm {arguments[0]} ({strategy}) exited {process.ExitCode} without a report: {(await error).Trim()}");
        return new RunOutput(Cli.RunJson.Parse(text), await error, processSeconds);
    }

    /// <summary>
    /// The product an operator deploys: <paramref name="product"/> (the NativeAOT publish, as
    /// the README tells operators to deploy it), else the bmm beside this toolbox (its build
    /// copies it here, a JIT build): its apphost, or `dotnet bmm.dll`.
    /// </summary>
    public static ProcessStartInfo ProductInvocation(string? product)
    {
        if (product is not null) return new ProcessStartInfo(product);
        var apphost = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "bmm.exe" : "bmm");
        if (File.Exists(apphost)) return new ProcessStartInfo(apphost);
        var info = new ProcessStartInfo(Environment.ProcessPath ?? "dotnet");
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "bmm.dll"));
        return info;
    }
}
