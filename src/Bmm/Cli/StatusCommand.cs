using System.CommandLine;
using System.Text.Json;
using Bmm.Capture;
using Bmm.Refresh;
using Bmm.Schema;
using Npgsql;
using Spectre.Console;

namespace Bmm.Cli;

internal static class StatusCommand
{
    private sealed record RunRow(long Id, string Strategy, DateTime StartedAt, DateTime? FinishedAt, string Outcome,
        long AffectedModels, int Batches, long Inserted, long Updated, long Deleted, long Unchanged, long Clamped, bool BacklogLeft, string? Error);

    public static Command Create()
    {
        var last = new Option<int>("--last") { Description = "How many recent runs to show.", DefaultValueFactory = _ => 10 };
        var command = new Command("status", "Show the positions and lag of the change-log consumers, queue depth, pause state and the last runs.") { last, CommonOptions.Json };
        command.SetAction((parse, ct) => CliApp.ExecuteAsync(parse, ct, async (env, token) =>
        {
            var dataSource = await env.DataSourceAsync(token);
            await Migrator.RequireJobSchemaAsync(dataSource, token);
            var consumer = Reconcile.Reconciler.LagConsumerOf(StrategyCatalog.Create(env.Job.Strategy));
            var state = await ChangeLog.ReadStateAsync(dataSource, consumer, token);
            var consumers = await ChangeLog.ReadConsumersAsync(dataSource, token);
            var paused = await RefreshRunner.IsPausedAsync(dataSource, token);
            var position = await ReadPositionAsync(dataSource, token);
            var baselineWatermark = await ReadBaselineWatermarkAsync(dataSource, token);
            var runs = await ReadRunsAsync(dataSource, Math.Max(parse.GetValue(last), 0), token);
            if (parse.GetValue(CommonOptions.Json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    paused,
                    setbasedPosition = position,
                    consumer,
                    consumers,
                    baselineWatermark,
                    lagSeconds = state.LagSeconds,
                    queueDepth = state.QueueDepth,
                    pendingChanges = state.PendingChanges,
                    changeLogBytes = state.ChangeLogBytes,
                    runs,
                }));
                return ExitCodes.Success;
            }
            var summary = new Table().AddColumns("", "").HideHeaders();
            summary.AddRow("paused", paused ? "[red]yes[/]" : "no");
            summary.AddRow("setbased position", Markup.Escape(position ?? "-"));
            summary.AddRow("baseline watermark (KeyValue metric:basemodel)", Markup.Escape(baselineWatermark ?? "-"));
            summary.AddRow($"lag ({Markup.Escape(consumer)})", $"{state.LagSeconds:F1}s");
            summary.AddRow("queued model ids", state.QueueDepth.ToString("N0"));
            summary.AddRow($"change-log rows pending ({Markup.Escape(consumer)})", state.PendingChanges.ToString("N0"));
            summary.AddRow("change-log size", $"{state.ChangeLogBytes / 1024.0:N0} KiB");
            AnsiConsole.Write(summary);
            var positions = new Table().AddColumns("consumer", "position", "sweep", "moved (UTC)", "pending rows", "lag");
            foreach (var c in consumers)
                positions.AddRow(Markup.Escape(c.Name), Markup.Escape(c.Position),
                    c.SweepEnd is { } end ? $"below xid {end}, done to model {c.SweepModel}" : "-",
                    c.UpdatedAt.ToString("yyyy-MM-dd HH:mm:ss"), c.Pending.ToString("N0"), $"{c.LagSeconds:F1}s");
            AnsiConsole.Write(positions);
            var history = new Table().AddColumns("run", "strategy", "started (UTC)", "seconds", "outcome", "models", "batches", "ins", "upd", "del", "unchanged");
            foreach (var run in runs)
            {
                history.AddRow(run.Id.ToString(), run.Strategy, run.StartedAt.ToString("yyyy-MM-dd HH:mm:ss"),
                    run.FinishedAt is { } f ? (f - run.StartedAt).TotalSeconds.ToString("F2") : "-",
                    Markup.Escape(run.Outcome + (run.BacklogLeft ? " (backlog)" : "") + (run.Error is null ? "" : ": " + run.Error)),
                    run.AffectedModels.ToString("N0"), run.Batches.ToString(), run.Inserted.ToString("N0"), run.Updated.ToString("N0"),
                    run.Deleted.ToString("N0"), run.Unchanged.ToString("N0"));
            }
            AnsiConsole.Write(history);
            return ExitCodes.Success;
        }));
        return command;
    }

    private static async Task<string?> ReadPositionAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT format('xid %s %s %s (updated %s)', xid, kind, row_id, updated_at) FROM bmm.consumer WHERE name = @name");
        command.Parameters.AddWithValue("name", ChangeLog.SetBasedConsumer);
        return await command.ExecuteScalarAsync(cancellationToken) as string;
    }

    private static async Task<string?> ReadBaselineWatermarkAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(JobControlSql.BaselineWatermark);
        return (await command.ExecuteScalarAsync(cancellationToken))?.ToString();
    }

    private static async Task<List<RunRow>> ReadRunsAsync(NpgsqlDataSource dataSource, int limit, CancellationToken cancellationToken)
    {
        var runs = new List<RunRow>();
        await using var command = dataSource.CreateCommand(JobControlSql.RecentRuns);
        command.Parameters.AddWithValue("limit", limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            runs.Add(new RunRow(reader.GetInt64(0), reader.GetString(1), reader.GetDateTime(2), reader.IsDBNull(3) ? null : reader.GetDateTime(3),
                reader.GetString(4), reader.GetInt64(5), reader.GetInt32(6), reader.GetInt64(7), reader.GetInt64(8), reader.GetInt64(9),
                reader.GetInt64(10), reader.GetInt64(11), reader.GetBoolean(12), reader.IsDBNull(13) ? null : reader.GetString(13)));
        }
        return runs;
    }
}
