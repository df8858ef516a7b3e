using System.CommandLine;
using Bmm.Configuration;
using Bmm.Database;

namespace Bmm.Cli;

/// <summary>The bmm command line.</summary>
public static class CliApp
{
    /// <summary>The commands of the toolbox (bmm-tools), which the product names but does not carry.</summary>
    public static readonly string[] ToolCommands = ["demo", "seed", "simulate", "bench"];

    /// <summary>The product's commands; <paramref name="tools"/> adds the toolbox's in its place.</summary>
    public static RootCommand BuildRoot(IReadOnlyList<Command>? tools = null)
    {
        var root = new RootCommand("bmm keeps \"ModelBaseModelMetric\" (per model and base model: downloads, images, distinct thumbs-up users) correct and fresh.");
        root.Options.Add(CommonOptions.Connection);
        root.Options.Add(CommonOptions.Verbose);
        foreach (var command in new[]
                 {
                     MigrateCommand.Create(), RunCommand.Create(), VerifyCommand.Create(), StatusCommand.Create(),
                     ControlCommands.Enqueue(), ControlCommands.Pause(), ControlCommands.Resume(), ControlCommands.DropConsumer(),
                     ServeCommand.Create(), FollowCommand.Create(), BackfillCommand.Create(),
                     ClickHouseCommand.Create(),
                 })
            root.Subcommands.Add(command);
        foreach (var command in tools ?? ToolCommands.Select(ElsewhereCommand).ToList())
            root.Subcommands.Add(command);
        return root;
    }

    /// <summary>A command of the toolbox, named in the product so that trying it says where it is.</summary>
    private static Command ElsewhereCommand(string name)
    {
        var command = new Command(name, $"In the toolbox: bmm-tools {name} (dotnet run --project src/Bmm.Tools -- {name}).") { Hidden = true };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (_, _) =>
        {
            await Console.Error.WriteLineAsync($"`{name}` is a command of the toolbox, not of the deployed bmm: run `bmm-tools {name}` (from a clone: dotnet run --project src/Bmm.Tools -- {name}).");
            return ExitCodes.Usage;
        });
        return command;
    }

    /// <summary>
    /// How long a command may take to stop after SIGINT or SIGTERM cancelled its token before
    /// the process exits anyway. Without a value System.CommandLine does not handle the signals
    /// at all, and the runtime kills the process with queries still running on the server.
    /// </summary>
    public static readonly TimeSpan ProcessTerminationTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Parses and runs; bad usage exits 2 with one sentence on standard error.</summary>
    public static Task<int> RunAsync(string[] args, TextWriter? error = null, CancellationToken cancellationToken = default) =>
        RunAsync(BuildRoot(), args, error, cancellationToken);

    /// <summary>Parses <paramref name="args"/> against <paramref name="root"/> and runs the command.</summary>
    public static async Task<int> RunAsync(RootCommand root, string[] args, TextWriter? error = null, CancellationToken cancellationToken = default)
    {
        error ??= Console.Error;
        // No response files: an argument such as `--schedule @hourly` is a value, not a file to read.
        var parse = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parse.Errors.Count > 0)
        {
            foreach (var parseError in parse.Errors) await error.WriteLineAsync(parseError.Message);
            return ExitCodes.Usage;
        }
        return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = ProcessTerminationTimeout }, cancellationToken);
    }

    /// <summary>
    /// Runs a command body with the shared error handling: usage errors exit 2, failures 3.
    /// <paramref name="flags"/> are the command's flags as settings (name, value or null when not given).
    /// </summary>
    internal static async Task<int> ExecuteAsync(ParseResult parse, CancellationToken cancellationToken, Func<CommandEnvironment, CancellationToken, Task<int>> body,
        IEnumerable<KeyValuePair<string, string?>>? flags = null)
    {
        try
        {
            await using var environment = CommandEnvironment.Create(parse, flags);
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
        catch (Exception e)
        {
            // Work may have started: exit 3 (never 1, which means drift), one sentence, and the
            // whole exception only when asked for.
            await Console.Error.WriteLineAsync($"Failed: {Errors.Describe(e)}");
            if (parse.GetValue(CommonOptions.Verbose)) await Console.Error.WriteLineAsync(e.ToString());
            return ExitCodes.Failed;
        }
    }
}
