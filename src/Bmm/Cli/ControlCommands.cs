using System.CommandLine;
using Bmm.Capture;
using Bmm.Configuration;
using Bmm.Refresh;
using Bmm.Schema;

namespace Bmm.Cli;

/// <summary>The commands that steer the job without running it: the queue, the kill switch, the consumers.</summary>
internal static class ControlCommands
{
    public static Command Enqueue()
    {
        var ids = new Argument<string[]>("ids") { Description = "Model ids to recompute; read from standard input when none are given.", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("enqueue", "Queue model ids for recomputation by the next run.") { ids };
        command.SetAction((parse, ct) => CliApp.ExecuteAsync(parse, ct, async (env, token) =>
        {
            var tokens = parse.GetValue(ids) ?? [];
            if (tokens.Length == 0 && Console.IsInputRedirected)
                tokens = (await Console.In.ReadToEndAsync(token)).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            var modelIds = ParseIds(tokens);
            if (modelIds.Count == 0) throw new UsageException("No model ids given: pass them as arguments or on standard input.");
            var dataSource = await env.DataSourceAsync(token);
            await Migrator.RequireJobSchemaAsync(dataSource, token);
            var added = await JobControl.EnqueueAsync(dataSource, modelIds, token);
            Console.WriteLine($"Queued {added:N0} model ids ({modelIds.Count - added:N0} were already queued).");
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>Every token must be a positive 32-bit integer; the first bad one is named.</summary>
    internal static List<int> ParseIds(IEnumerable<string> tokens)
    {
        var result = new List<int>();
        foreach (var token in tokens)
        {
            if (!int.TryParse(token, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) || id <= 0)
                throw new UsageException($"'{token}' is not a model id (a positive integer); nothing was queued.");
            result.Add(id);
        }
        return result.Distinct().ToList();
    }

    public static Command DropConsumer()
    {
        var name = new Argument<string>("name") { Description = "The consumer to remove (see `bmm status`): setbased, reviews-mv or incremental." };
        var command = new Command("drop-consumer", "Remove the change-log position of a strategy that no longer runs, so that the log it holds back can be discarded.") { name };
        command.SetAction((parse, ct) => CliApp.ExecuteAsync(parse, ct, async (env, token) =>
        {
            var dataSource = await env.DataSourceAsync(token);
            await Migrator.RequireJobSchemaAsync(dataSource, token);
            var consumer = parse.GetValue(name)!;
            if (!await ChangeLog.DropConsumerAsync(dataSource, consumer, token))
                throw new UsageException($"There is no change-log consumer named '{consumer}'; `bmm status` lists them.");
            Console.WriteLine(consumer == ChangeLog.IncrementalConsumer
                ? $"Removed consumer '{consumer}'. If the incremental strategy runs again, it rebuilds its state from a snapshot."
                : $"Removed consumer '{consumer}'. If that strategy runs again, it starts from now: run `bmm backfill` first to recompute what it missed (and `bmm migrate`, which registers setbased again).");
            return ExitCodes.Success;
        }));
        return command;
    }

    public static Command Pause() => Switch("pause", "Stop all runners from working (the kill switch, kept in the database).", true);

    public static Command Resume() => Switch("resume", "Let the runners work again.", false);

    private static Command Switch(string name, string description, bool paused)
    {
        var command = new Command(name, description);
        command.SetAction((parse, ct) => CliApp.ExecuteAsync(parse, ct, async (env, token) =>
        {
            var dataSource = await env.DataSourceAsync(token);
            await Migrator.RequireJobSchemaAsync(dataSource, token);
            await JobControl.SetPausedAsync(dataSource, paused, token);
            Console.WriteLine(paused ? "Paused: runners skip their runs until `bmm resume`." : "Resumed.");
            return ExitCodes.Success;
        }));
        return command;
    }
}
