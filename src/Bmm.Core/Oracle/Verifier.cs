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
/// denormalized columns). With a repairer, re-derives the drifted models as that strategy keeps
/// its table (<see cref="IRefreshStrategy.RepairAsync"/>), under the runner lock so that no
/// refresh interleaves.
/// </summary>
public static class Verifier
{
    public static async Task<VerifyReport> VerifyAsync(NpgsqlDataSource dataSource, IRefreshStrategy? repairer, JobOptions options, ILogger logger, JobMetrics metrics, CancellationToken cancellationToken, int samplesPerKind = 5)
    {
        var repair = repairer is not null;
        await using var runnerLock = repair ? await RunnerLock.TryAcquireAsync(dataSource, cancellationToken) : null;
        if (repair && runnerLock is null)
            throw new InvalidOperationException("Another runner holds the lock; repair needs the table to itself. Try again when the run has finished.");

        long expected = 0, missing = 0, extra = 0, wrong = 0;
        var samples = new List<DriftSample>();
        var driftedModels = new SortedSet<int>();
        // One statement, one snapshot: a write committing meanwhile is never seen as drift.
        await using (var diff = dataSource.CreateCommand(OracleSql.Diff))
        {
            diff.CommandTimeout = 0;
            await using var reader = await diff.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var kind = reader.GetString(0);
                var modelId = reader.GetInt32(1);
                switch (kind)
                {
                    case "total": expected = modelId; continue;
                    case "missing": missing++; break;
                    case "extra": extra++; break;
                    default: wrong++; break;
                }
                if (repair) driftedModels.Add(modelId);
                if (samples.Count(s => s.Kind == kind) < samplesPerKind)
                    samples.Add(new DriftSample(kind, modelId, reader.GetString(2),
                        reader.IsDBNull(3) ? null : reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4)));
            }
        }
        samples.Sort((a, b) => (a.Kind, a.ModelId, a.BaseModel).CompareTo((b.Kind, b.ModelId, b.BaseModel)));

        var drift = missing + extra + wrong;
        if (drift > 0)
        {
            foreach (var (kind, rows) in new[] { ("missing", missing), ("extra", extra), ("wrong", wrong) })
                if (rows > 0) metrics.Drift.Add(rows, new KeyValuePair<string, object?>("kind", kind), new KeyValuePair<string, object?>("source", "verify"));
            Log.DriftFound(logger, missing, extra, wrong);
        }

        long repaired = 0;
        if (repairer is not null && driftedModels.Count > 0)
        {
            // Repair re-derives the drifted models from their current state, so writes that
            // committed after the comparison are respected too.
            var transactions = new Database.Transactions(dataSource, options, logger, metrics);
            foreach (var chunk in driftedModels.Chunk(options.BatchSize))
                repaired += (await transactions.RunAsync((c, t, ct) => repairer.RepairAsync(c, t, chunk, ct), cancellationToken)).Written;
            Log.Repaired(logger, repaired);
        }
        return new VerifyReport(expected, missing, extra, wrong, samples, repaired);
    }

}
