using System.CommandLine;
using Bmm.ClickHouse;
using Bmm.Refresh;
using Bmm.Schema;
using Bmm.Telemetry;
using Spectre.Console;

namespace Bmm.Cli;

/// <summary><c>bmm clickhouse</c>: the clickhouse strategy's mirror (Option E).</summary>
internal static class ClickHouseCommand
{
    public static Command Create()
    {
        var command = new Command("clickhouse", "The clickhouse strategy's mirror in ClickHouse (settings: ClickHouse:Url, User, Password, Database, Cluster).");
        command.Subcommands.Add(Load());
        command.Subcommands.Add(Recompute());
        return command;
    }

    private static Command Load()
    {
        var rebuild = new Option<bool>("--rebuild") { Description = "Drop the mirror's tables on every node and load them again (after ClickHouse lost data, or to mirror another database)." };
        var command = new Command("load", "Copy the counted versions and reviews into ClickHouse from one snapshot; the clickhouse strategy replays the log from that snapshot on.") { rebuild };
        command.SetAction((parse, ct) => UnderTheLockAsync(parse, ct, "load", async (env, dataSource, mirror, token) =>
        {
            var source = await mirror.LoadedFromAsync(token);
            if (source is not null && !parse.GetValue(rebuild))
            {
                await Console.Error.WriteLineAsync($"ClickHouse database '{mirror.Client.Options.Database}' at {mirror.Client.Endpoint} already mirrors PostgreSQL database '{source}': pass --rebuild to load it again.");
                return ExitCodes.Usage;
            }
            var report = await mirror.LoadAsync(dataSource, token);
            Log.ClickHouseLoaded(env.LoggerFor(LogCategories.Refresh), report.Versions, report.Reviews, report.StartXid, report.Seconds);
            Console.WriteLine($"Loaded {report.Versions:N0} versions and {report.Reviews:N0} reviews into {mirror.Client.Endpoint} in {report.Seconds:F1}s; " +
                              $"the clickhouse strategy replays the change log from xid {report.StartXid}.");
            return ExitCodes.Success;
        }));
        return command;
    }

    private static Command Recompute()
    {
        var command = new Command("recompute", "Recompute every pair of the table from the mirror (ClickHouse's full recomputation, the counterpart of backfill).") { CommonOptions.Json };
        command.SetAction((parse, ct) => UnderTheLockAsync(parse, ct, "recompute", async (env, dataSource, mirror, token) =>
        {
            if (await mirror.LoadedFromAsync(token) != dataSource.CreateConnection().Database)
            {
                await Console.Error.WriteLineAsync("ClickHouse holds no mirror of this database: run `bmm clickhouse load` first.");
                return ExitCodes.Usage;
            }
            var started = System.Diagnostics.Stopwatch.StartNew();
            var transactions = new Database.Transactions(dataSource, env.Job, env.LoggerFor(LogCategories.Refresh), env.Metrics);
            var write = await mirror.RecomputeAllAsync(transactions, env.Job.BatchSize, null, token);
            var table = new Table().AddColumns("", "").HideHeaders();
            table.AddRow("rows inserted / updated / deleted", $"{write.Inserted:N0} / {write.Updated:N0} / {write.Deleted:N0}");
            table.AddRow("rows left unchanged", write.Unchanged.ToString("N0"));
            table.AddRow("seconds", started.Elapsed.TotalSeconds.ToString("F1"));
            AnsiConsole.Write(table);
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>
    /// A command that needs the mirror and the table to itself: the job's schema, the mirror, and
    /// the runner lock, or exit 2 naming who holds it.
    /// </summary>
    private static Task<int> UnderTheLockAsync(ParseResult parse, CancellationToken cancellationToken, string what,
        Func<CommandEnvironment, Npgsql.NpgsqlDataSource, ClickHouseMirror, CancellationToken, Task<int>> body) =>
        CliApp.ExecuteAsync(parse, cancellationToken, async (env, token) =>
        {
            var dataSource = await env.DataSourceAsync(token);
            await Migrator.RequireJobSchemaAsync(dataSource, token);
            var mirror = await env.ClickHouseMirrorAsync(token);
            await using var runnerLock = await RunnerLock.TryAcquireAsync(dataSource, token);
            if (runnerLock is null)
            {
                await Console.Error.WriteLineAsync($"{await RunnerLock.DescribeHolderAsync(dataSource, token)} holds the runner lock: {what} when it is done (or stop it).");
                return ExitCodes.Usage;
            }
            return await body(env, dataSource, mirror, token);
        });
}
