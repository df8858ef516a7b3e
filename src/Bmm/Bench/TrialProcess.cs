using System.Diagnostics;
using System.Text.Json;

namespace Bmm.Bench;

/// <summary>
/// Runs <c>bmm run --json</c> as a child process, so that each strategy's time is taken inside
/// its own job and its peak memory is that process's alone.
/// </summary>
internal static class TrialProcess
{
    public sealed record RunOutput(JsonElement Json, string Error);

    public static async Task<RunOutput?> RunAsync(string connectionString, string strategy, DateTimeOffset clock, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var info = SelfInvocation();
        foreach (var argument in new[] { "run", "--strategy", strategy, "--json", "--clock", clock.ToString("O") })
            info.ArgumentList.Add(argument);
        info.Environment["BMM_CONNECTION"] = connectionString;
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
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
        var text = await output;
        var json = text.Length > 0 && text.TrimStart().StartsWith('{') ? JsonDocument.Parse(text).RootElement.Clone() : default;
        if (json.ValueKind != JsonValueKind.Object)
            throw new InvalidOperationException($"bmm run ({strategy}) exited {process.ExitCode} without a report: {(await error).Trim()}");
        return new RunOutput(json, await error);
    }

    /// <summary>This very program: the apphost, or `dotnet bmm.dll`.</summary>
    public static ProcessStartInfo SelfInvocation()
    {
        var path = Environment.ProcessPath ?? throw new InvalidOperationException("The path of this program is unknown.");
        if (Path.GetFileNameWithoutExtension(path) != "dotnet") return new ProcessStartInfo(path);
        var info = new ProcessStartInfo(path);
        info.ArgumentList.Add(typeof(TrialProcess).Assembly.Location);
        return info;
    }
}
