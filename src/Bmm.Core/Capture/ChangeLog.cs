using Bmm.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Bmm.Capture;

/// <summary>
/// A consumer's read position: every log row at or below (Xid, Kind, RowId) is consumed. Rows are
/// ordered by the writer's transaction id, then by kind and the key of the row that changed.
/// </summary>
public readonly record struct LogPosition(long Xid, char Kind, int RowId) : IComparable<LogPosition>
{
    /// <summary>Sorts after every kind: <see cref="EndOf"/> covers a whole transaction.</summary>
    public const char EndOfTransaction = '~';

    /// <summary>The position that covers every row of transaction <paramref name="xid"/> and below.</summary>
    public static LogPosition EndOf(long xid) => new(xid, EndOfTransaction, int.MaxValue);

    public int CompareTo(LogPosition other) => (Xid, Kind, RowId).CompareTo((other.Xid, other.Kind, other.RowId));

    public override string ToString() => Kind == EndOfTransaction && RowId == int.MaxValue ? $"xid {Xid}" : $"xid {Xid} {Kind} {RowId}";
}

/// <summary>
/// Where a consumer is: its position, and for a recomputing consumer the sweep in progress (the
/// rows past the position and below <see cref="SweepEnd"/> are recomputed in model order, and the
/// models up to <see cref="SweepModel"/> are done).
/// </summary>
public sealed record ConsumerState(LogPosition Position, long? SweepEnd, int? SweepModel);

/// <summary>
/// A model a sweep recomputes, with the base models whose distinct thumbs-up users must be
/// recounted (null: all of them, in a sweep of every model).
/// </summary>
public sealed record SweepModel(int ModelId, string[]? RecountBases);

/// <summary>
/// The change log written by the capture triggers, read by named consumers, each with its own
/// position, advanced in the same transaction as the results it covers.
/// </summary>
public static class ChangeLog
{
    public const string SetBasedConsumer = "setbased";
    public const string IncrementalConsumer = "incremental";

    /// <summary>Registers <paramref name="name"/>, if new, where <paramref name="from"/> is (else at the horizon).</summary>
    public static async Task RegisterConsumerAtAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string name, string from, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ChangeLogSql.RegisterConsumerAt, connection, transaction);
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("from", from);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public static async Task<ConsumerState> ReadConsumerAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string consumer, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ChangeLogSql.ReadConsumer, connection, transaction);
        command.Parameters.AddWithValue("name", consumer);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
            throw new InvalidOperationException($"The change-log consumer '{consumer}' is not registered: run `bmm migrate`.");
        return new ConsumerState(new LogPosition(reader.GetInt64(0), reader.GetString(1)[0], reader.GetInt32(2)),
            reader.IsDBNull(3) ? null : reader.GetInt64(3), reader.IsDBNull(4) ? null : reader.GetInt32(4));
    }

    /// <summary>
    /// The horizon of finished transactions, in a statement of its own: a later statement's
    /// snapshot sees every transaction below it.
    /// </summary>
    public static async Task<long> ReadHorizonAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ChangeLogSql.Horizon, connection, transaction);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public static async Task<bool> AnyPendingAsync(NpgsqlConnection connection, LogPosition from, long below, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ChangeLogSql.AnyPending, connection);
        AddPosition(command, from);
        command.Parameters.AddWithValue("below", below);
        return await command.ExecuteScalarAsync(cancellationToken) is true;
    }

    /// <summary>
    /// The first models of a new sweep of the rows past <paramref name="from"/> and below
    /// <paramref name="below"/>, in model order, at most <paramref name="limit"/> + 1 of them; when
    /// there are more than <paramref name="limit"/>, all are planned for the sweep's later runs, in
    /// one transaction with the removal of any older plan of <paramref name="consumer"/>.
    /// </summary>
    public static async Task<List<SweepModel>> StartSweepAsync(NpgsqlConnection connection, string consumer, LogPosition from, long below, long limit, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await EndSweepAsync(connection, transaction, consumer, cancellationToken);
        await using var command = new NpgsqlCommand(ChangeLogSql.StartSweep, connection, transaction) { CommandTimeout = 0 };
        command.Parameters.AddWithValue("consumer", consumer);
        AddPosition(command, from);
        command.Parameters.AddWithValue("below", below);
        command.Parameters.AddWithValue("limit", limit);
        var models = await ReadModelsAsync(command, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return models;
    }

    /// <summary>
    /// Up to <paramref name="limit"/> models of the sweep in progress of the rows past
    /// <paramref name="from"/> and below <paramref name="below"/>, in model order, after
    /// <paramref name="afterModel"/>: from its plan when it has one, else from its log rows.
    /// </summary>
    public static async Task<List<SweepModel>> ResumeSweepAsync(NpgsqlConnection connection, string consumer, LogPosition from, long below, int afterModel, long limit, CancellationToken cancellationToken)
    {
        await using var planned = new NpgsqlCommand(ChangeLogSql.HasSweepPlan, connection);
        planned.Parameters.AddWithValue("consumer", consumer);
        var hasPlan = await planned.ExecuteScalarAsync(cancellationToken) is true;
        await using var command = new NpgsqlCommand(hasPlan ? ChangeLogSql.PlannedSweepModels : ChangeLogSql.SweepModels, connection) { CommandTimeout = 0 };
        if (hasPlan) command.Parameters.AddWithValue("consumer", consumer);
        else
        {
            AddPosition(command, from);
            command.Parameters.AddWithValue("below", below);
        }
        command.Parameters.AddWithValue("after", afterModel);
        command.Parameters.AddWithValue("limit", limit);
        return await ReadModelsAsync(command, cancellationToken);
    }

    private static async Task<List<SweepModel>> ReadModelsAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var models = new List<SweepModel>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            models.Add(new SweepModel(reader.GetInt32(0), reader.IsDBNull(1) ? null : reader.GetFieldValue<string[]>(1)));
        return models;
    }

    /// <summary>Removes the sweep plan of <paramref name="consumer"/>: in the transaction that moves its position past the sweep, and before a new sweep is planned.</summary>
    public static async Task EndSweepAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string consumer, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ChangeLogSql.EndSweep, connection, transaction);
        command.Parameters.AddWithValue("consumer", consumer);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Adds a position as the parameters @{prefix}xid, @{prefix}kind and @{prefix}row_id.</summary>
    internal static void AddPosition(NpgsqlCommand command, LogPosition position, string prefix = "")
    {
        command.Parameters.AddWithValue(prefix + "xid", position.Xid);
        command.Parameters.AddWithValue(prefix + "kind", position.Kind.ToString());
        command.Parameters.AddWithValue(prefix + "row_id", position.RowId);
    }

    /// <summary>
    /// Moves a consumer from the state this runner read to <paramref name="to"/>, in the transaction
    /// that wrote what the move covers. Fails when the consumer is no longer where it was (another runner).
    /// </summary>
    public static async Task AdvanceAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string consumer, ConsumerState from, ConsumerState to, CancellationToken cancellationToken)
    {
        if (to == from) return;
        await using var command = new NpgsqlCommand(ChangeLogSql.Advance, connection, transaction);
        command.Parameters.AddWithValue("name", consumer);
        AddPosition(command, to.Position);
        command.Parameters.Add(new NpgsqlParameter("sweep_end", NpgsqlDbType.Bigint) { Value = (object?)to.SweepEnd ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("sweep_model", NpgsqlDbType.Integer) { Value = (object?)to.SweepModel ?? DBNull.Value });
        AddPosition(command, from.Position, "from_");
        command.Parameters.Add(new NpgsqlParameter("from_sweep_end", NpgsqlDbType.Bigint) { Value = (object?)from.SweepEnd ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("from_sweep_model", NpgsqlDbType.Integer) { Value = (object?)from.SweepModel ?? DBNull.Value });
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
        await using (var command = dataSource.CreateCommand(ChangeLogSql.Maintain))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken)) Log.ChangeLogMaintained(logger, reader.GetString(0));
        }
        await using var stale = dataSource.CreateCommand(ChangeLogSql.StaleConsumers);
        await using var staleReader = await stale.ExecuteReaderAsync(cancellationToken);
        while (await staleReader.ReadAsync(cancellationToken))
            Log.StaleConsumer(logger, staleReader.GetString(0), staleReader.GetDouble(1) / 3600, staleReader.GetInt64(2));
    }

    /// <summary>One consumer's position and backlog, for <c>bmm status</c>.</summary>
    public sealed record ConsumerReport(string Name, string Position, long? SweepEnd, int? SweepModel, DateTime UpdatedAt, long Pending, double LagSeconds);

    public static async Task<IReadOnlyList<ConsumerReport>> ReadConsumersAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var consumers = new List<ConsumerReport>();
        await using var command = dataSource.CreateCommand(ChangeLogSql.Consumers);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var position = new LogPosition(reader.GetInt64(1), reader.GetString(2)[0], reader.GetInt32(3));
            consumers.Add(new ConsumerReport(reader.GetString(0), position.ToString(), reader.IsDBNull(4) ? null : reader.GetInt64(4),
                reader.IsDBNull(5) ? null : reader.GetInt32(5), reader.GetDateTime(6), reader.GetInt64(7), reader.GetDouble(8)));
        }
        return consumers;
    }

    /// <summary>Removes a consumer; false when there was none by that name.</summary>
    public static async Task<bool> DropConsumerAsync(NpgsqlDataSource dataSource, string name, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ChangeLogSql.DropConsumer);
        command.Parameters.AddWithValue("name", name);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }
}
