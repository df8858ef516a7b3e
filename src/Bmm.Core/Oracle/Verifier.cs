using Bmm.Configuration;
using Bmm.Refresh;
using Bmm.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.Oracle;

/// <summary>One row that differs from the oracle.</summary>
public sealed record DriftSample(string Kind, int ModelId, string BaseModel, string? Actual, string? Expected);

/// <summary>The comparison of the whole table with a recomputation from scratch.</summary>
/// <remarks>
/// <see cref="Pending"/>: rows that differ for models the job has not caught up with yet (changes
/// captured past the consumer's position, or queued), which are not drift. <see cref="Queued"/>:
/// drifted models handed to the runner holding the lock, because a repair needs it.
/// </remarks>
public sealed record VerifyReport(long ExpectedRows, long Missing, long Extra, long Wrong, IReadOnlyList<DriftSample> Samples, long Repaired,
    long Pending = 0, int Queued = 0)
{
    public long Drift => Missing + Extra + Wrong;
}

/// <summary>
/// Recomputes every row with the oracle and compares every column (counters and the six
/// denormalized columns). With <c>pendingConsumer</c>, differences of models that changes past
/// that consumer's position name (or the queue) are counted as pending, not drift, so that a
/// live site's verify means drift when it says so. With a repairer, re-derives the drifted models
/// as that strategy keeps its table (<see cref="IRefreshStrategy.RepairAsync"/>) under the runner
/// lock, so that no refresh interleaves; while another runner holds the lock (a follower, a
/// scheduled run), the drifted models are queued for it instead, which it applies first.
/// </summary>
public static class Verifier
{
    public static async Task<VerifyReport> VerifyAsync(NpgsqlDataSource dataSource, IRefreshStrategy? repairer, JobOptions options, ILogger logger, JobMetrics metrics, CancellationToken cancellationToken,
        int samplesPerKind = 5, string? pendingConsumer = null)
    {
        var repair = repairer is not null;
        await using var runnerLock = repair ? await RunnerLock.TryAcquireAsync(dataSource, cancellationToken) : null;

        long expected = 0, missing = 0, extra = 0, wrong = 0, pending = 0;
        var samples = new List<DriftSample>();
        var driftedModels = new SortedSet<int>();
        // One statement, one snapshot: a write committing meanwhile is never seen as drift.
        await using (var diff = dataSource.CreateCommand(pendingConsumer is null ? OracleSql.Diff : OracleSql.DiffWithPending))
        {
            diff.CommandTimeout = 0;
            if (pendingConsumer is not null) diff.Parameters.AddWithValue("consumer", pendingConsumer);
            await using var reader = await diff.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var kind = reader.GetString(0);
                var modelId = reader.GetInt32(1);
                if (reader.GetBoolean(5))
                {
                    pending++;
                    continue;
                }
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
        var queued = 0;
        if (repairer is not null && driftedModels.Count > 0 && runnerLock is null)
        {
            queued = await JobControl.EnqueueAsync(dataSource, driftedModels, cancellationToken);
            Log.RepairQueued(logger, driftedModels.Count, await RunnerLock.DescribeHolderAsync(dataSource, cancellationToken));
        }
        else if (repairer is not null && driftedModels.Count > 0)
        {
            // Repair re-derives the drifted models from their current state, so writes that
            // committed after the comparison are respected too.
            var transactions = new Database.Transactions(dataSource, options, logger, metrics);
            foreach (var chunk in driftedModels.Chunk(options.BatchSize))
                repaired += (await transactions.RunAsync((c, t, ct) => repairer.RepairAsync(c, t, chunk, ct), cancellationToken)).Written;
            Log.Repaired(logger, repaired);
        }
        return new VerifyReport(expected, missing, extra, wrong, samples, repaired, pending, queued);
    }

}
