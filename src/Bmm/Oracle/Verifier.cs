using Bmm.Configuration;
using Bmm.Refresh;
using Bmm.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.Oracle;

/// <summary>One row that differs from the oracle.</summary>
public sealed record DriftSample(string Kind, int ModelId, string BaseModel, string? Actual, string? Expected);

/// <summary>The comparison of the whole table with a recomputation from scratch.</summary>
public sealed record VerifyReport(long ExpectedRows, long Missing, long Extra, long Wrong, IReadOnlyList<DriftSample> Samples, long Repaired)
{
    public long Drift => Missing + Extra + Wrong;
}

/// <summary>
/// Recomputes every row with the oracle and compares every column (counters and the six
/// denormalized columns). With repair, recomputes the drifted models under the runner lock so
/// that no refresh interleaves.
/// </summary>
public static class Verifier
{
    public static async Task<VerifyReport> VerifyAsync(NpgsqlDataSource dataSource, bool repair, JobOptions options, ILogger logger, JobMetrics metrics, CancellationToken cancellationToken, int samplesPerKind = 5)
    {
        await using var runnerLock = repair ? await RunnerLock.TryAcquireAsync(dataSource, cancellationToken) : null;
        if (repair && runnerLock is null)
            throw new InvalidOperationException("Another runner holds the lock; repair needs the table to itself. Try again when the run has finished.");

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        // One snapshot for the oracle and the table, so a write committing meanwhile is never seen as drift.
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        await Execute(connection, transaction, OracleSql.CreateExpected, cancellationToken);
        await Execute(connection, transaction, OracleSql.IndexExpected, cancellationToken);
        await Execute(connection, transaction, OracleSql.CreateDiff, cancellationToken);

        long expected, missing, extra, wrong;
        await using (var counts = new NpgsqlCommand(OracleSql.Counts, connection, transaction))
        await using (var reader = await counts.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            (expected, missing, extra, wrong) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
        }

        var samples = new List<DriftSample>();
        await using (var sampleCommand = new NpgsqlCommand(OracleSql.Samples, connection, transaction))
        {
            sampleCommand.Parameters.AddWithValue("per_kind", samplesPerKind);
            await using var reader = await sampleCommand.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
                samples.Add(new DriftSample(reader.GetString(0), reader.GetInt32(1), reader.GetString(2),
                    reader.IsDBNull(3) ? null : reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4)));
        }

        var driftedModels = new List<int>();
        if (repair)
        {
            await using var ids = new NpgsqlCommand(OracleSql.DriftedModels, connection, transaction);
            await using var reader = await ids.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken)) driftedModels.Add(reader.GetInt32(0));
        }
        await transaction.CommitAsync(cancellationToken);

        var drift = missing + extra + wrong;
        if (drift > 0)
        {
            metrics.Drift.Add(drift);
            Log.DriftFound(logger, missing, extra, wrong);
        }

        long repaired = 0;
        if (repair && driftedModels.Count > 0)
        {
            // Repair recomputes the drifted models from their current state with the setbased
            // statement, so writes that committed after the comparison are respected too.
            var transactions = new Database.Transactions(dataSource, options, logger, metrics);
            foreach (var chunk in driftedModels.Chunk(options.BatchSize))
            {
                repaired += await transactions.RunAsync(async (c, t, ct) =>
                {
                    var write = await Strategies.SetBased.SetBasedStrategy.RefreshModelsAsync(c, t, chunk, ct);
                    return write.Inserted + write.Updated + write.Deleted;
                }, cancellationToken);
            }
            Log.Repaired(logger, repaired);
        }
        return new VerifyReport(expected, missing, extra, wrong, samples, repaired);
    }

    private static async Task<int> Execute(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
