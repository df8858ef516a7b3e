using System.Data;
using Bmm.Capture;
using Bmm.Refresh;
using Npgsql;

namespace Bmm.Strategies.Incremental;

/// <summary>What one apply or repair of the incremental state wrote.</summary>
public sealed record IncrementalWrite(long Inserted, long Updated, long Deleted, long Desired, string ClampedJson, long VersionChanges, long ReviewChanges, long Anomalies)
{
    public long Unchanged => Desired - Inserted - Updated;
}

/// <summary>The bootstrap and the set-wise operations on the incremental state.</summary>
public static class IncrementalState
{
    public static async Task<bool> IsBootstrappedAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(IncrementalSql.IsBootstrapped);
        command.Parameters.AddWithValue("name", ChangeLog.IncrementalConsumer);
        return await command.ExecuteScalarAsync(cancellationToken) is true;
    }

    /// <summary>Drops the consumer's position, so that the next run or follower rebuilds the state from a snapshot.</summary>
    public static async Task ForgetAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(IncrementalSql.Forget);
        command.Parameters.AddWithValue("name", ChangeLog.IncrementalConsumer);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Builds the state from one REPEATABLE READ snapshot and sets the consumer's position to
    /// that snapshot's xmin in the same transaction, so that a change committed while it runs is
    /// read from the log afterwards; then makes the visible table equal to the state. Call it
    /// under the runner lock. Writers are never blocked: it only reads the site's tables.
    /// </summary>
    public static async Task<(long Inserted, long Updated, long Deleted)> BootstrapAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using (var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken))
        {
            long xmin;
            await using (var snapshot = new NpgsqlCommand(IncrementalSql.SnapshotXmin, connection, transaction))
                xmin = (long)(await snapshot.ExecuteScalarAsync(cancellationToken))!;
            await using (var rebuild = new NpgsqlCommand(IncrementalSql.Rebuild, connection, transaction) { CommandTimeout = 0 })
                await rebuild.ExecuteNonQueryAsync(cancellationToken);
            await using (var position = new NpgsqlCommand(IncrementalSql.SetPosition, connection, transaction))
            {
                position.Parameters.AddWithValue("name", ChangeLog.IncrementalConsumer);
                position.Parameters.AddWithValue("xmin", xmin);
                await position.ExecuteNonQueryAsync(cancellationToken);
            }
            await transaction.CommitAsync(cancellationToken);
        }
        await using var write = new NpgsqlCommand(IncrementalSql.WriteAll, connection) { CommandTimeout = 0 };
        await using var reader = await write.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
    }

    /// <summary>Applies the changes of these models and reviews as exact deltas and writes the rows that moved.</summary>
    public static async Task<IncrementalWrite> ApplyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, ChangeRows rows, CancellationToken cancellationToken)
    {
        await RowLocks.LockInKeyOrderAsync(connection, transaction, rows.TouchedModelIds, cancellationToken);
        await using var command = new NpgsqlCommand(IncrementalSql.Apply, connection, transaction);
        command.Parameters.AddWithValue("models", rows.ModelIds);
        command.Parameters.AddWithValue("reviews", rows.ReviewIds);
        command.Parameters.AddWithValue("structural", rows.StructuralIds);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new IncrementalWrite(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetString(4),
            reader.GetInt64(5), reader.GetInt64(6), reader.GetInt64(7));
    }

    /// <summary>
    /// Recomputes drifted models from their current state and returns the rows written: through
    /// the incremental state where <paramref name="throughState"/> (so that it is repaired too),
    /// else with the setbased statement.
    /// </summary>
    public static async Task<long> RepairDriftedAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, bool throughState, CancellationToken cancellationToken)
    {
        if (throughState)
        {
            var repair = await RepairAsync(connection, transaction, modelIds, cancellationToken);
            return repair.Inserted + repair.Updated + repair.Deleted;
        }
        var write = await SetBased.SetBasedStrategy.RefreshModelsAsync(connection, transaction, modelIds, cancellationToken);
        return write.Inserted + write.Updated + write.Deleted;
    }

    /// <summary>Re-derives everything about these models (state and visible rows) from the site's tables.</summary>
    public static async Task<IncrementalWrite> RepairAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, CancellationToken cancellationToken)
    {
        await RowLocks.LockInKeyOrderAsync(connection, transaction, modelIds, cancellationToken);
        await using var command = new NpgsqlCommand(IncrementalSql.Repair, connection, transaction);
        command.Parameters.AddWithValue("models", modelIds);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new IncrementalWrite(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetString(4), 0, 0, 0);
    }
}
