using System.Diagnostics;
using Bmm.Capture;
using Bmm.ClickHouse;
using Bmm.Configuration;
using Bmm.Recompute;
using Bmm.Refresh;
using Bmm.Telemetry;
using Bmm.Writing;
using Npgsql;

namespace Bmm.Strategies.ClickHouse;

/// <summary>
/// The plan's Option E: the site's counted rows are mirrored into ClickHouse by a change-log
/// consumer of its own, and the changed models' numbers are computed there and written through
/// the one write path. Each batch is one PostgreSQL transaction: it reads the next log keys,
/// mirrors those rows (<see cref="ClickHouseMirror.MirrorAsync"/>), recomputes the models they
/// name in ClickHouse, writes the rows that differ and advances the position. ClickHouse's writes
/// are not part of that transaction, so a batch that fails after them is replayed by the next
/// run, which re-reads the same rows: the mirror keeps the highest version of each.
/// </summary>
public sealed class ClickHouseStrategy : IRefreshStrategy
{
    public string Name => "clickhouse";

    public string Description => "Option E: mirrors changed rows into ClickHouse and computes the changed models there (ClickHouse:*).";

    public string? Consumer => ClickHouseMirror.Consumer;

    public Reconciliation Reconciliation => Reconciliation.Table;

    private const string Enqueue = "INSERT INTO bmm.model_queue (model_id) SELECT unnest(@ids::int[]) ON CONFLICT (model_id) DO NOTHING";

    /// <summary>
    /// The table is recomputed from the site's tables now, and the models are queued, so that the
    /// next run mirrors their rows again: a drifted mirror is repaired with the table.
    /// </summary>
    public async Task<WriteCounts> RepairAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, CancellationToken cancellationToken)
    {
        await using (var queue = new NpgsqlCommand(Enqueue, connection, transaction))
        {
            queue.Parameters.AddWithValue("ids", modelIds);
            await queue.ExecuteNonQueryAsync(cancellationToken);
        }
        return await Recomputer.RefreshModelsAsync(connection, transaction, modelIds, Recount.Everything, cancellationToken);
    }

    public async Task RefreshAsync(RefreshContext context, RefreshResult result, CancellationToken cancellationToken)
    {
        var mirror = context.ClickHouse ?? throw new UsageException(
            "The clickhouse strategy needs ClickHouse: set ClickHouse:Url (or let bmm start its own by leaving it empty).");
        var budget = Stopwatch.StartNew();
        bool OverBudget() => result.AffectedModels >= context.Options.MaxModelsPerRun || budget.Elapsed.TotalSeconds >= context.Options.MaxSecondsPerRun;

        await LoadIfMissingAsync(context, mirror, result, cancellationToken);

        // The explicit queue (bmm enqueue, repairs): the models' rows mirrored again, whole.
        while (!OverBudget())
        {
            var taken = await context.Transactions.RunAsync(async (connection, transaction, ct) =>
            {
                var ids = await result.TimeAsync("read_changes", () => ChangeLog.TakeQueuedAsync(connection, transaction, context.Options.BatchSize, ct));
                if (ids.Length == 0) return (ids, WriteCounts.None);
                var models = await result.TimeAsync("mirror", () => mirror.MirrorModelsAsync(connection, transaction, ids, ct));
                return (ids, await result.TimeAsync("compute_and_write", () => mirror.WriteModelsAsync(connection, transaction, models, ct)));
            }, cancellationToken);
            result.Record(context, taken.ids.Length, taken.Item2);
            if (taken.ids.Length < context.Options.BatchSize) break;
        }

        LogPosition? reached = null;
        long? horizon = null;
        var batchRows = mirror.Client.Options.BatchRows;
        while (true)
        {
            if (OverBudget())
            {
                result.BacklogLeft = true;
                Log.BudgetReached(context.Logger, result.AffectedModels);
                break;
            }
            var done = await context.Transactions.RunAsync(async (connection, transaction, ct) =>
            {
                var state = await result.TimeAsync("read_changes", () => ChangeLog.ReadConsumerAsync(connection, transaction, ClickHouseMirror.Consumer, ct));
                // One horizon per run: what commits meanwhile waits for the next run.
                horizon ??= await result.TimeAsync("read_changes", () => ChangeLog.ReadHorizonAsync(connection, transaction, ct));
                var keys = await result.TimeAsync("read_changes", () => ReadKeysAsync(connection, transaction, state.Position, horizon.Value, batchRows, ct));
                if (keys.Count == 0) return (Done: true, Position: state.Position, Models: 0L, Write: WriteCounts.None);
                var models = await result.TimeAsync("mirror", () => mirror.MirrorAsync(connection, transaction, keys, ct));
                var write = models.Length == 0 ? WriteCounts.None
                    : await result.TimeAsync("compute_and_write", () => mirror.WriteModelsAsync(connection, transaction, models, ct));
                var last = keys[^1];
                // Every key below the horizon read: the position covers the whole range.
                var position = keys.Count < batchRows ? LogPosition.EndOf(horizon.Value - 1) : new LogPosition(last.Xid, last.Kind, last.RowId);
                await result.TimeAsync("advance_position", () => ChangeLog.AdvanceAsync(connection, transaction, ClickHouseMirror.Consumer, state,
                    new ConsumerState(position, null, null), ct));
                return (Done: keys.Count < batchRows, Position: position, Models: (long)models.Length, Write: write);
            }, cancellationToken);
            reached = done.Position;
            result.Record(context, done.Models, done.Write);
            if (done.Done) break;
        }
        if (result.Batches > 0)
            await result.TimeAsync("maintenance", () => ChangeLog.MaintainAsync(context.DataSource, context.Logger, cancellationToken));
        result.Watermark = reached?.ToString();
    }

    /// <summary>Loads the mirror when ClickHouse holds none of this database (first run, or its data lost).</summary>
    private static async Task LoadIfMissingAsync(RefreshContext context, ClickHouseMirror mirror, RefreshResult result, CancellationToken cancellationToken)
    {
        var source = await mirror.LoadedFromAsync(cancellationToken);
        var database = context.DataSource.CreateConnection().Database;
        if (source == database) return;
        if (source is not null)
            throw new UsageException($"ClickHouse database '{mirror.Client.Options.Database}' at {mirror.Client.Endpoint} mirrors PostgreSQL database '{source}', not '{database}': " +
                "set ClickHouse:Database to another name, or run `bmm clickhouse load --rebuild` to mirror this one instead.");
        Log.ClickHouseMirrorMissing(context.Logger, mirror.Client.Endpoint);
        var load = await result.TimeAsync("load", () => mirror.LoadAsync(context.DataSource, cancellationToken));
        Log.ClickHouseLoaded(context.Logger, load.Versions, load.Reviews, load.StartXid, load.Seconds);
    }

    private static async Task<List<LogKey>> ReadKeysAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, LogPosition from, long below, int limit, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(MirrorSql.NextKeys, connection, transaction);
        command.Parameters.AddWithValue("xid", from.Xid);
        command.Parameters.AddWithValue("kind", from.Kind.ToString());
        command.Parameters.AddWithValue("row_id", from.RowId);
        command.Parameters.AddWithValue("below", below);
        command.Parameters.AddWithValue("limit", limit);
        var keys = new List<LogKey>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            keys.Add(new LogKey(reader.GetInt64(0), reader.GetString(1)[0], reader.GetInt32(2), reader.GetFieldValue<int[]>(3), reader.GetFieldValue<int[]>(4)));
        return keys;
    }
}
