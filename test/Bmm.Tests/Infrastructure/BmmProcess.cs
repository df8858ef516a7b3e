using System.Diagnostics;

namespace Bmm.Tests.Infrastructure;

/// <summary>
/// Runs the real executables (copied beside the tests) as separate processes: bmm, the product,
/// and bmm-tools for the toolbox's commands.
/// </summary>
public static class BmmProcess
{
    public sealed record Result(int ExitCode, string Output, string Error)
    {
        public override string ToString() => $"exit {ExitCode}\nstdout: {Output}\nstderr: {Error}";
    }

    public static Task<Result> RunAsync(string? connection, IReadOnlyDictionary<string, string>? environment, string? input, params string[] arguments) =>
        RunExecutableAsync(Executable(arguments), connection, environment, input, arguments);

    /// <summary>
    /// Runs <paramref name="executable"/> (a bmm built elsewhere, or any program) with BMM_CONNECTION
    /// set to <paramref name="connection"/>; the variables named in <paramref name="unset"/> are removed.
    /// </summary>
    public static async Task<Result> RunExecutableAsync(string executable, string? connection, IReadOnlyDictionary<string, string>? environment, string? input, string[] arguments,
        IEnumerable<string>? unset = null)
    {
        var info = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        info.Environment.Remove("BMM_CONNECTION");
        if (connection is not null) info.Environment["BMM_CONNECTION"] = connection;
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) info.Environment[key] = value;
        foreach (var name in unset ?? []) info.Environment.Remove(name);
        using var process = Process.Start(info)!;
        if (input is not null) await process.StandardInput.WriteAsync(input);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return new Result(process.ExitCode, await output, await error);
    }

    public static Task<Result> RunAsync(string? connection, params string[] arguments) => RunAsync(connection, null, null, arguments);

    /// <summary>The product for its own commands, the toolbox for the others.</summary>
    private static string Executable(string[] arguments) =>
        Path.Combine(AppContext.BaseDirectory, arguments.Length > 0 && Bmm.Cli.CliApp.ToolCommands.Contains(arguments[0]) ? "bmm-tools" : "bmm");

    /// <summary>Starts a long-running command (follow, serve); the caller stops or kills it. Its output is discarded.</summary>
    public static Process Start(string connection, IReadOnlyDictionary<string, string> environment, params string[] arguments) =>
        Start(connection, environment, errorLines: null, arguments);

    /// <summary>As <see cref="Start(string, IReadOnlyDictionary{string, string}, string[])"/>, collecting its standard error's lines in <paramref name="errorLines"/>.</summary>
    public static Process Start(string connection, IReadOnlyDictionary<string, string> environment, System.Collections.Concurrent.ConcurrentQueue<string>? errorLines, params string[] arguments)
    {
        var info = new ProcessStartInfo(Executable(arguments))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        info.Environment["BMM_CONNECTION"] = connection;
        foreach (var (key, value) in environment) info.Environment[key] = value;
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, line) => { if (line.Data is not null) errorLines?.Enqueue(line.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }
}
