using System.CommandLine;
using Bmm.Configuration;
using Bmm.Database;

namespace Bmm.Cli;

/// <summary>The bmm command line.</summary>
public static class CliApp
{
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("bmm keeps \"ModelBaseModelMetric\" (per model and base model: downloads, images, distinct thumbs-up users) correct and fresh.");
        root.Options.Add(CommonOptions.Connection);
        root.Options.Add(CommonOptions.Verbose);
        foreach (var command in new[]
                 {
                     MigrateCommand.Create(), RunCommand.Create(), VerifyCommand.Create(), StatusCommand.Create(),
                     QueueCommands.Enqueue(), QueueCommands.Pause(), QueueCommands.Resume(), QueueCommands.DropConsumer(),
                     ServeCommand.Create(), FollowCommand.Create(), BackfillCommand.Create(),
                     SeedCommand.Create(), SimulateCommand.Create(), DemoCommand.Create(), BenchCommand.Create(),
                 })
            root.Subcommands.Add(command);
        return root;
    }

    /// <summary>
    /// How long a command may take to stop after SIGINT or SIGTERM cancelled its token before
    /// the process exits anyway. Without a value System.CommandLine does not handle the signals
    /// at all, and the runtime kills the process with queries still running on the server.
    /// </summary>
    public static readonly TimeSpan ProcessTerminationTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Parses and runs; bad usage exits 2 with one sentence on standard error.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter? error = null, CancellationToken cancellationToken = default)
    {
        error ??= Console.Error;
        var parse = BuildRoot().Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var parseError in parse.Errors) await error.WriteLineAsync(parseError.Message);
            return ExitCodes.Usage;
        }
        return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = ProcessTerminationTimeout }, cancellationToken);
    }

    /// <summary>Runs a command body with the shared error handling: usage errors exit 2, failures 3.</summary>
    internal static async Task<int> ExecuteAsync(ParseResult parse, CancellationToken cancellationToken, Func<CommandEnvironment, CancellationToken, Task<int>> body)
    {
        try
        {
            await using var environment = CommandEnvironment.Create(parse);
            return await body(environment, cancellationToken);
        }
        catch (UsageException e)
        {
            await Console.Error.WriteLineAsync(e.Message);
            return ExitCodes.Usage;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync("Cancelled; work in progress was rolled back.");
            return ExitCodes.Failed;
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or InvalidOperationException or TimeoutException)
        {
            await Console.Error.WriteLineAsync($"Failed: {ConnectionResolver.Describe(e)}");
            return ExitCodes.Failed;
        }
    }
}
