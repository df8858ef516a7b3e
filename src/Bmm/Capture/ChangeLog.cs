using Bmm.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.Capture;

/// <summary>A consumer's read position: every row at or below (Xid, ModelId) is consumed.</summary>
public readonly record struct LogPosition(long Xid, int ModelId);

/// <summary>
/// The distinct models changed between two positions of a consumer, and among them those whose
/// distinct thumbs-up users must be recounted (a change other than a version metric's).
/// <see cref="Full"/> says the slice stopped at its row or model limit, so more changes may wait below the horizon.
/// </summary>
public sealed record ChangeSlice(int[] ModelIds, int[] RecountIds, LogPosition From, LogPosition To, long LogRows, bool Full);

/// <summary>
/// Log rows between two positions of a consumer: the models changed other than through a review
/// (their versions, version metrics or model row), the reviews changed, and among the models those
/// changed through a version or the model row (<see cref="StructuralIds"/>), whose every row must be rewritten,
/// and every model the rows name (<see cref="TouchedModelIds"/>), whose table rows a step may write.
/// <see cref="Full"/> says the read stopped at its row limit, so more changes may wait below the horizon.
/// </summary>
public sealed record ChangeRows(int[] ModelIds, int[] ReviewIds, int[] StructuralIds, int[] TouchedModelIds, LogPosition From, LogPosition To, long LogRows, bool Full);

/// <summary>
/// The change log written by the capture triggers, read by named consumers, each with its own
/// position, advanced in the same transaction as the results it covers.
/// </summary>
public static class ChangeLog
{
    public const string SetBasedConsumer = "setbased";
    public const string IncrementalConsumer = "incremental";

    public static async Task RegisterConsumerAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string name, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ChangeLogSql.RegisterConsumer, connection, transaction);
        command.Parameters.AddWithValue("name", name);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Registers <paramref name="name"/>, if new, where <paramref name="from"/> is (else at the horizon).</summary>
    public static async Task RegisterConsumerAtAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string name, string from, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ChangeLogSql.RegisterConsumerAt, connection, transaction);
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("from", from);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Reads up to <paramref name="limit"/> log rows, holding at most <paramref name="maxModels"/>
    /// distinct models, past the consumer's position and below the horizon of finished
    /// transactions. The horizon is taken in a statement of its own, before the slice's snapshot,
    /// so that every transaction below it is visible to the slice.
    /// </summary>
    public static async Task<ChangeSlice> ReadSliceAsync(NpgsqlDataSource dataSource, string consumer, int limit, long maxModels, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        // As in the job's transactions: compiling a day's slice read cost more than it saved (0.4 s).
        await using (var noJit = new NpgsqlCommand(ChangeLogSql.NoJit, connection))
            await noJit.ExecuteNonQueryAsync(cancellationToken);
        var (from, horizon) = await ReadPositionAndHorizonAsync(connection, null, consumer, cancellationToken);
        // A slice that takes every row below the horizon lets the position jump to the horizon.
        var toHorizon = new LogPosition(horizon - 1, int.MaxValue);

        await using (var whole = new NpgsqlCommand(ChangeLogSql.ReadWholeSlice, connection))
        {
            AddRange(whole, from, horizon, limit);
            await using var all = await whole.ExecuteReaderAsync(cancellationToken);
            await all.ReadAsync(cancellationToken);
            var rows = all.GetInt64(0);
            if (rows <= limit && all.GetInt64(1) <= Math.Max(1, maxModels))
                return new ChangeSlice(all.GetFieldValue<int[]>(2), all.GetFieldValue<int[]>(3), from, rows == 0 ? from : Later(toHorizon, from), rows, Full: false);
        }

        await using var slice = new NpgsqlCommand(ChangeLogSql.ReadSlice, connection);
        AddRange(slice, from, horizon, limit);
        slice.Parameters.AddWithValue("max_models", Math.Max(1, maxModels));
        await using var result = await slice.ExecuteReaderAsync(cancellationToken);
        await result.ReadAsync(cancellationToken);
        var rowsRead = result.GetInt64(0);
        var kept = result.GetInt64(1);
        var full = rowsRead == limit || kept < rowsRead;
        var to = full ? new LogPosition(result.GetInt64(2), result.GetInt32(3)) : toHorizon;
        return new ChangeSlice(result.GetFieldValue<int[]>(4), result.GetFieldValue<int[]>(5), from, Later(to, from), kept, full);
    }

    /// <summary>
    /// Reads up to <paramref name="limit"/> log rows past the consumer's position and below the
    /// horizon (plus the rest of a (xid, model) group the limit cut), on the caller's connection
    /// and transaction so that the changes can be applied and the position advanced in it.
    /// Returns the models changed other than through a review, and the reviews changed.
    /// </summary>
    public static async Task<ChangeRows> ReadRowsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string consumer, int limit, CancellationToken cancellationToken)
    {
        var (from, horizon) = await ReadPositionAndHorizonAsync(connection, transaction, consumer, cancellationToken);
        await using var read = new NpgsqlCommand(ChangeLogSql.ReadRows, connection, transaction);
        AddRange(read, from, horizon, limit);
        await using var result = await read.ExecuteReaderAsync(cancellationToken);
        await result.ReadAsync(cancellationToken);
        var rowsRead = result.GetInt64(0);
        var full = !result.IsDBNull(1);
        var to = full ? new LogPosition(result.GetInt64(1), result.GetInt32(2)) : new LogPosition(horizon - 1, int.MaxValue);
        return new ChangeRows(result.GetFieldValue<int[]>(3), result.GetFieldValue<int[]>(4), result.GetFieldValue<int[]>(5), result.GetFieldValue<int[]>(6),
            from, rowsRead == 0 ? from : Later(to, from), rowsRead, full);
    }

    private static void AddRange(NpgsqlCommand command, LogPosition from, long horizon, int limit)
    {
        command.Parameters.AddWithValue("xid", from.Xid);
        command.Parameters.AddWithValue("model_id", from.ModelId);
        command.Parameters.AddWithValue("horizon", horizon);
        command.Parameters.AddWithValue("limit", limit);
    }

    /// <summary>A position never moves back (a horizon can be below a position set by a bootstrap).</summary>
    private static LogPosition Later(LogPosition to, LogPosition from) =>
        (to.Xid, to.ModelId).CompareTo((from.Xid, from.ModelId)) < 0 ? from : to;

    private static async Task<(LogPosition From, long Horizon)> ReadPositionAndHorizonAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string consumer, CancellationToken cancellationToken)
    {
        LogPosition from;
        await using (var position = new NpgsqlCommand(ChangeLogSql.ReadPosition, connection, transaction))
        {
            position.Parameters.AddWithValue("name", consumer);
            await using var reader = await position.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
                throw new InvalidOperationException($"The change-log consumer '{consumer}' is not registered: run `bmm migrate`.");
            from = new LogPosition(reader.GetInt64(0), reader.GetInt32(1));
        }
        await using var horizonCommand = new NpgsqlCommand(ChangeLogSql.Horizon, connection, transaction);
        return (from, (long)(await horizonCommand.ExecuteScalarAsync(cancellationToken))!);
    }

    /// <summary>
    /// Moves the position to the end of a slice, in the transaction that wrote the slice's last
    /// results. Fails when the position is no longer where the slice began (another runner).
    /// </summary>
    public static Task AdvanceAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string consumer, ChangeSlice slice, CancellationToken cancellationToken) =>
        AdvanceAsync(connection, transaction, consumer, slice.From, slice.To, cancellationToken);

    public static async Task AdvanceAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string consumer, LogPosition from, LogPosition to, CancellationToken cancellationToken)
    {
        if (to == from) return;
        await using var command = new NpgsqlCommand(ChangeLogSql.AdvancePosition, connection, transaction);
        command.Parameters.AddWithValue("name", consumer);
        command.Parameters.AddWithValue("xid", to.Xid);
        command.Parameters.AddWithValue("model_id", to.ModelId);
        command.Parameters.AddWithValue("from_xid", from.Xid);
        command.Parameters.AddWithValue("from_model_id", from.ModelId);
        if (await command.ExecuteNonQueryAsync(cancellationToken) != 1)
            throw new InvalidOperationException($"The position of consumer '{consumer}' moved under this run: another runner is working without the lock.");
    }

    /// <summary>Takes up to <paramref name="limit"/> queued ids, deleted in this transaction (a rollback puts them back).</summary>
    public static async Task<int[]> TakeQueuedAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int limit, CancellationToken cancellationToken)
    {
        var ids = new List<int>();
        await using var queue = new NpgsqlCommand(ChangeLogSql.TakeQueued, connection, transaction);
        queue.Parameters.AddWithValue("limit", limit);
        await using var reader = await queue.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) ids.Add(reader.GetInt32(0));
        ids.Sort();
        return [.. ids];
    }

    /// <summary>
    /// Creates partitions ahead, truncates the ones every consumer has passed and drops old empty
    /// ones, in one round trip. Best effort: a partition that is busy is left for the next run.
    /// </summary>
    public static async Task MaintainAsync(NpgsqlDataSource dataSource, ILogger logger, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ChangeLogSql.Maintain);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) Log.ChangeLogMaintained(logger, reader.GetString(0));
        await reader.DisposeAsync();
        await using var stale = dataSource.CreateCommand(ChangeLogSql.StaleConsumers);
        await using var staleReader = await stale.ExecuteReaderAsync(cancellationToken);
        while (await staleReader.ReadAsync(cancellationToken))
            Log.StaleConsumer(logger, staleReader.GetString(0), staleReader.GetDouble(1) / 3600, staleReader.GetInt64(2));
    }

    /// <summary>One consumer's position and backlog, for <c>bmm status</c>.</summary>
    public sealed record ConsumerState(string Name, long Xid, int ModelId, DateTime UpdatedAt, long Pending, double LagSeconds);

    public static async Task<IReadOnlyList<ConsumerState>> ReadConsumersAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var consumers = new List<ConsumerState>();
        await using var command = dataSource.CreateCommand(ChangeLogSql.Consumers);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            consumers.Add(new ConsumerState(reader.GetString(0), reader.GetInt64(1), reader.GetInt32(2), reader.GetDateTime(3), reader.GetInt64(4), reader.GetDouble(5)));
        return consumers;
    }

    /// <summary>Removes a consumer; false when there was none by that name.</summary>
    public static async Task<bool> DropConsumerAsync(NpgsqlDataSource dataSource, string name, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ChangeLogSql.DropConsumer);
        command.Parameters.AddWithValue("name", name);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public static async Task<JobStateSnapshot> ReadStateAsync(NpgsqlDataSource dataSource, string consumer, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ChangeLogSql.State);
        command.Parameters.AddWithValue("name", consumer);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new JobStateSnapshot(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetDouble(3),
            reader.IsDBNull(6) ? double.PositiveInfinity : reader.GetDouble(6));
    }
}
