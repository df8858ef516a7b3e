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

    /// <summary>
    /// The table is recomputed from the site's tables now, and the models are queued, so that the
    /// next run mirrors their rows again: a drifted mirror is repaired with the table.
    /// </summary>
    public async Task<WriteCounts> RepairAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, CancellationToken cancellationToken)
    {
        await using (var queue = new NpgsqlCommand(JobControlSql.Enqueue, connection, transaction))
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
        var options = context.Options;
        var budget = Stopwatch.StartNew();
        bool OverTime() => budget.Elapsed.TotalSeconds >= options.MaxSecondsPerRun;
        bool OverBudget() => result.AffectedModels >= options.MaxModelsPerRun || OverTime();

        await LoadIfMissingAsync(context, mirror, result, cancellationToken);

        // The explicit queue (bmm enqueue, repairs): the models' rows mirrored again, whole.
        while (!OverBudget())
        {
            var taken = await context.Transactions.RunAsync(async (connection, transaction, ct) =>
            {
                var ids = await result.TimeAsync("read_changes", () => ChangeLog.TakeQueuedAsync(connection, transaction, options.BatchSize, ct));
                if (ids.Length == 0) return (Ids: ids, Write: WriteCounts.None);
                var models = await result.TimeAsync("mirror", () => mirror.MirrorModelsAsync(connection, transaction, ids, ct));
                return (Ids: ids, Write: await result.TimeAsync("compute_and_write", () => mirror.WriteModelsAsync(connection, transaction, models, ct)));
            }, cancellationToken);
            result.Record(context, taken.Ids.Length, taken.Write);
            if (taken.Ids.Length < options.BatchSize) break;
        }

        var (position, mirrored) = await MirrorPendingAsync(context, mirror, result, OverTime, cancellationToken);

        // The models mirrored (by this run or one before it), in model order, each once.
        var drained = false;
        while (!OverBudget())
        {
            var taken = await context.Transactions.RunAsync(async (connection, transaction, ct) =>
            {
                var (models, whole) = await result.TimeAsync("read_changes", () => TakePendingAsync(connection, transaction, options.BatchSize, ct));
                var write = models.Length == 0 ? WriteCounts.None
                    : await result.TimeAsync("compute_and_write", () => mirror.WriteModelsAsync(connection, transaction, models, ct, whole));
                return (Models: models.Length, Write: write);
            }, cancellationToken);
            result.Record(context, taken.Models, taken.Write);
            if (taken.Models < options.BatchSize)
            {
                drained = true;
                break;
            }
        }
        if (!drained || position is null)
        {
            result.BacklogLeft = true;
            Log.BudgetReached(context.Logger, result.AffectedModels);
        }
        if (result.Batches > 0 || mirrored)
            await result.TimeAsync("maintenance", () => ChangeLog.MaintainAsync(context.DataSource, context.Logger, cancellationToken));
        result.Watermark = position?.ToString();
    }

    /// <summary>
    /// Mirrors the log past the consumer's position and below the run's horizon, in batches of
    /// ClickHouse:BatchRows rows, each one PostgreSQL transaction that records the models to write
    /// (bmm.clickhouse_pending) and advances the position. Returns the position reached (null when
    /// stopped by <paramref name="overTime"/> before the horizon) and whether any batch committed.
    /// </summary>
    private static async Task<(LogPosition? Position, bool Mirrored)> MirrorPendingAsync(RefreshContext context, ClickHouseMirror mirror, RefreshResult result,
        Func<bool> overTime, CancellationToken cancellationToken)
    {
        var batchRows = mirror.Client.Options.BatchRows;
        long? horizon = null;
        var mirrored = false;
        while (true)
        {
            if (overTime()) return (null, mirrored);
            var step = await context.Transactions.RunAsync(async (connection, transaction, ct) =>
            {
                var state = await result.TimeAsync("read_changes", () => ChangeLog.ReadConsumerAsync(connection, transaction, ClickHouseMirror.Consumer, ct));
                // One horizon per run: what commits meanwhile waits for the next run.
                horizon ??= await result.TimeAsync("read_changes", () => ChangeLog.ReadHorizonAsync(connection, transaction, ct));
                var end = await result.TimeAsync("read_changes", () => ReadBatchEndAsync(connection, transaction, state.Position, horizon.Value, batchRows, ct));
                // Short of a whole batch: every row below the horizon, and the position covers the range.
                var last = end ?? LogPosition.EndOf(horizon.Value - 1);
                var keys = await result.TimeAsync("read_changes", () => ReadKeysAsync(connection, transaction, state.Position, last, horizon.Value, ct));
                if (keys.Count == 0) return (Done: true, Position: state.Position, Advanced: false);
                var models = await result.TimeAsync("mirror", () => mirror.MirrorAsync(connection, transaction, keys, ct));
                await using (var pending = new NpgsqlCommand(MirrorSql.AddPending, connection, transaction))
                {
                    pending.Parameters.AddWithValue("models", models.Models);
                    pending.Parameters.AddWithValue("whole", models.Whole);
                    await result.TimeAsync("mirror", () => pending.ExecuteNonQueryAsync(ct));
                }
                await result.TimeAsync("advance_position", () => ChangeLog.AdvanceAsync(connection, transaction, ClickHouseMirror.Consumer, state,
                    new ConsumerState(last, null, null), ct));
                return (Done: end is null, Position: last, Advanced: true);
            }, cancellationToken);
            mirrored |= step.Advanced;
            if (step.Done) return (step.Position, mirrored);
        }
    }

    private static async Task<LogPosition?> ReadBatchEndAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, LogPosition from, long below, int limit, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(MirrorSql.BatchEnd, connection, transaction);
        ChangeLog.AddPosition(command, from);
        command.Parameters.AddWithValue("below", below);
        command.Parameters.AddWithValue("limit", limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? new LogPosition(reader.GetInt64(0), reader.GetString(1)[0], reader.GetInt32(2)) : null;
    }

    private static async Task<List<LogKey>> ReadKeysAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, LogPosition from, LogPosition end, long below, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(MirrorSql.BatchKeys, connection, transaction);
        ChangeLog.AddPosition(command, from);
        ChangeLog.AddPosition(command, end, "end_");
        command.Parameters.AddWithValue("below", below);
        var keys = new List<LogKey>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            keys.Add(new LogKey(reader.GetString(0)[0], reader.GetInt32(1), reader.GetFieldValue<int[]>(2), reader.GetFieldValue<int[]>(3)));
        return keys;
    }

    /// <summary>Up to <paramref name="limit"/> pending models in model order, and those of them to write whole.</summary>
    private static async Task<(int[] Models, int[] Whole)> TakePendingAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int limit, CancellationToken cancellationToken)
    {
        var models = new List<int>();
        var whole = new List<int>();
        await using var command = new NpgsqlCommand(MirrorSql.TakePending, connection, transaction);
        command.Parameters.AddWithValue("limit", limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            models.Add(reader.GetInt32(0));
            if (reader.GetBoolean(1)) whole.Add(reader.GetInt32(0));
        }
        models.Sort();
        return ([.. models], [.. whole]);
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
}
