using System.Data;
using Bmm.Capture;
using Bmm.Database;
using Bmm.Writing;
using Npgsql;

namespace Bmm.Strategies.Incremental;

/// <summary>
/// What one incremental step applied and wrote, and where it ends (<see cref="CutShort"/> when its
/// row limit cut it, so more rows may wait); it read no row when <see cref="LogRows"/> is 0, and
/// applied nothing when <see cref="Rebuild"/> (the backlog is larger than the rebuild threshold).
/// </summary>
public sealed record IncrementalWrite(WriteCounts Write, long Models, long Anomalies, long LogRows, LogPosition To, bool CutShort, bool Rebuild);

/// <summary>The bootstrap and the set-wise operations on the incremental state.</summary>
public static class IncrementalState
{
    /// <summary>Models whose staged pairs one bootstrap transaction makes visible.</summary>
    public const int BootstrapBatchModels = 20_000;

    public static async Task<bool> IsBootstrappedAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(IncrementalSql.IsBootstrapped);
        command.Parameters.AddWithValue("name", ChangeLog.IncrementalConsumer);
        return await command.ExecuteScalarAsync(cancellationToken) is true;
    }

    /// <summary>Drops the consumer's position, so that the next run or follower rebuilds the state from a snapshot.</summary>
    public static async Task<bool> ForgetAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(IncrementalSql.Forget);
        command.Parameters.AddWithValue("name", ChangeLog.IncrementalConsumer);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    /// <summary>
    /// Builds the state from one REPEATABLE READ snapshot, stages every pair's values, makes them
    /// visible in batches of their own transactions, and only then sets the consumer's position to
    /// the snapshot's xmin with the snapshot kept, so that a change committed meanwhile is applied
    /// from the log and one the snapshot already holds is not applied twice. Call it under the
    /// runner lock. Writers are never blocked: it only reads the site's tables; a bootstrap stopped
    /// halfway is redone whole. Returns what it wrote and how many models it wrote.
    /// </summary>
    public static async Task<(WriteCounts Write, long Models)> BootstrapAsync(NpgsqlDataSource dataSource, Transactions transactions, CancellationToken cancellationToken)
    {
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        await using (var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken))
        {
            await using (var rebuild = new NpgsqlCommand(IncrementalSql.Rebuild, connection, transaction) { CommandTimeout = 0 })
                await rebuild.ExecuteNonQueryAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        var batches = new List<WriteCounts>();
        var models = 0L;
        var after = int.MinValue;
        while (true)
        {
            var from = after;
            var (last, count, write) = await transactions.RunAsync(async (connection, transaction, ct) =>
            {
                await using var command = new NpgsqlCommand(IncrementalSql.BootstrapWrite, connection, transaction);
                command.Parameters.AddWithValue("after", from);
                command.Parameters.AddWithValue("batch_models", BootstrapBatchModels);
                await using var reader = await command.ExecuteReaderAsync(ct);
                await reader.ReadAsync(ct);
                return reader.IsDBNull(0) ? ((int?)null, 0, WriteCounts.None) : (reader.GetInt32(0), reader.GetInt32(1), WriteCounts.Read(reader, 2));
            }, cancellationToken);
            if (last is null) break;
            after = last.Value;
            models += count;
            batches.Add(write);
        }
        await transactions.RunAsync(async (connection, transaction, ct) =>
        {
            await using var finish = new NpgsqlCommand(IncrementalSql.BootstrapFinish, connection, transaction);
            return await finish.ExecuteNonQueryAsync(ct);
        }, cancellationToken);
        return (WriteCounts.Sum(batches), models);
    }

    /// <summary>
    /// Applies the next step past <paramref name="from"/>: the log rows below <paramref name="below"/>
    /// (the horizon), at most <paramref name="rowLimit"/> of them, as exact deltas, writing the rows
    /// that moved. The caller advances the position to the step's end in the same transaction.
    /// When more than <paramref name="rebuildRows"/> rows wait (and more than a step), it applies
    /// nothing and says so (<see cref="IncrementalWrite.Rebuild"/>); 0 never.
    /// </summary>
    public static async Task<IncrementalWrite> ApplyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, LogPosition from, long below, int rowLimit, int rebuildRows, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(IncrementalSql.Apply, connection, transaction) { CommandTimeout = 0 };
        ChangeLog.AddPosition(command, from, "from_");
        command.Parameters.AddWithValue("below", below);
        command.Parameters.AddWithValue("row_limit", rowLimit);
        command.Parameters.AddWithValue("rebuild_rows", rebuildRows);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new IncrementalWrite(WriteCounts.Read(reader), reader.GetInt64(5), reader.GetInt64(6), reader.GetInt64(7),
            new LogPosition(reader.GetInt64(8), reader.GetString(9)[0], reader.GetInt32(10)), reader.GetBoolean(11), reader.GetBoolean(12));
    }

    /// <summary>Re-derives everything about these models (state and visible rows) from the site's tables, as of the consumer's position.</summary>
    public static async Task<WriteCounts> RepairAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(IncrementalSql.Repair, connection, transaction);
        command.Parameters.AddWithValue("models", modelIds);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return WriteCounts.Read(reader);
    }
}
