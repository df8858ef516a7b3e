namespace Bmm.Cli;

/// <summary>The toolbox's command line: every command of bmm, and the synthetic site, the demo and the benchmark.</summary>
public static class ToolsApp
{
    public static System.CommandLine.RootCommand BuildRoot() =>
        CliApp.BuildRoot([SeedCommand.Create(), SimulateCommand.Create(), DemoCommand.Create(), BenchCommand.Create()]);

    public static Task<int> RunAsync(string[] args, TextWriter? error = null, CancellationToken cancellationToken = default) =>
        CliApp.RunAsync(BuildRoot(), args, error, cancellationToken);
}
