using Bmm.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.Capture;

/// <summary>A consumer's read position: every row at or below (Xid, ModelId) is consumed.</summary>
public readonly record struct LogPosition(long Xid, int ModelId);

/// <summary>The next slice of changed models for one consumer, and where its position moves to.</summary>
public sealed record ChangeSlice(int[] ModelIds, LogPosition From, LogPosition To, int LogRows, bool MoreWaiting);

/// <summary>
/// The change log written by the capture triggers, read by named consumers, each with its own
/// position, advanced in the same transaction as the results it covers.
/// </summary>
public static class ChangeLog
{
    public const string SetBasedConsumer = "setbased";

    public static async Task RegisterConsumerAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string name, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ChangeLogSql.RegisterConsumer, connection, transaction);
        command.Parameters.AddWithValue("name", name);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Locks the consumer's position for this transaction and reads up to <paramref name="limit"/>
    /// rows past it, below the horizon of finished transactions. Also takes up to the same number
    /// of ids from the explicit queue (deleted in this transaction, so a rollback puts them back).
    /// </summary>
    public static async Task<ChangeSlice> TakeSliceAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string consumer, int limit, CancellationToken cancellationToken)
    {
        LogPosition from;
        await using (var lockPosition = new NpgsqlCommand(ChangeLogSql.LockPosition, connection, transaction))
        {
            lockPosition.Parameters.AddWithValue("name", consumer);
            await using var reader = await lockPosition.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
                throw new InvalidOperationException($"The change-log consumer '{consumer}' is not registered: run `bmm migrate`.");
            from = new LogPosition(reader.GetInt64(0), reader.GetInt32(1));
        }

        long horizon;
        await using (var horizonCommand = new NpgsqlCommand(ChangeLogSql.Horizon, connection, transaction))
            horizon = (long)(await horizonCommand.ExecuteScalarAsync(cancellationToken))!;

        var ids = new HashSet<int>();
        var rows = 0;
        var last = from;
        await using (var read = new NpgsqlCommand(ChangeLogSql.ReadSlice, connection, transaction))
        {
            read.Parameters.AddWithValue("xid", from.Xid);
            read.Parameters.AddWithValue("model_id", from.ModelId);
            read.Parameters.AddWithValue("horizon", horizon);
            read.Parameters.AddWithValue("limit", limit);
            await using var reader = await read.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                last = new LogPosition(reader.GetInt64(0), reader.GetInt32(1));
                ids.Add(last.ModelId);
                rows++;
            }
        }

        var queued = 0;
        await using (var queue = new NpgsqlCommand(ChangeLogSql.TakeQueued, connection, transaction))
        {
            queue.Parameters.AddWithValue("limit", limit);
            await using var reader = await queue.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                ids.Add(reader.GetInt32(0));
                queued++;
            }
        }

        var more = rows == limit || queued == limit;
        // A slice that did not fill up consumed everything below the horizon: jump to it.
        var to = rows == limit ? last : new LogPosition(horizon - 1, int.MaxValue);
        if ((to.Xid, to.ModelId).CompareTo((from.Xid, from.ModelId)) < 0) to = from;
        var sorted = ids.ToArray();
        Array.Sort(sorted);
        return new ChangeSlice(sorted, from, to, rows, more);
    }

    public static async Task AdvanceAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string consumer, LogPosition to, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ChangeLogSql.AdvancePosition, connection, transaction);
        command.Parameters.AddWithValue("name", consumer);
        command.Parameters.AddWithValue("xid", to.Xid);
        command.Parameters.AddWithValue("model_id", to.ModelId);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Creates partitions ahead, truncates the ones every consumer has passed and drops old empty
    /// ones. Best effort: a partition that is busy is left for the next run.
    /// </summary>
    public static async Task MaintainAsync(NpgsqlDataSource dataSource, ILogger logger, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await Execute(connection, "SET lock_timeout = '1s'", cancellationToken);
        await Execute(connection, ChangeLogSql.EnsurePartitions, cancellationToken);
        foreach (var partition in await ListAsync(connection, ChangeLogSql.ConsumedPartitions, cancellationToken))
        {
            if (await TryExecute(connection, $"TRUNCATE bmm.{QuoteIdentifier(partition)}", cancellationToken))
                Log.PartitionTruncated(logger, partition);
        }
        foreach (var partition in await ListAsync(connection, ChangeLogSql.DroppablePartitions, cancellationToken))
            await TryExecute(connection, $"DROP TABLE bmm.{QuoteIdentifier(partition)}", cancellationToken);
        await TryExecute(connection, ChangeLogSql.ConsumedDefaultRows, cancellationToken);
    }

    public static async Task<JobStateSnapshot> ReadStateAsync(NpgsqlDataSource dataSource, string consumer, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ChangeLogSql.State + ", (SELECT extract(epoch FROM now() - max(finished_at)) FROM bmm.run_history WHERE outcome = 'succeeded')::float8");
        command.Parameters.AddWithValue("name", consumer);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new JobStateSnapshot(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetDouble(3),
            reader.IsDBNull(6) ? double.PositiveInfinity : reader.GetDouble(6));
    }

    private static string QuoteIdentifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static async Task Execute(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<bool> TryExecute(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        try
        {
            await Execute(connection, sql, cancellationToken);
            return true;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.LockNotAvailable)
        {
            return false;
        }
    }

    private static async Task<List<string>> ListAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        var names = new List<string>();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) names.Add(reader.GetString(0));
        return names;
    }
}
