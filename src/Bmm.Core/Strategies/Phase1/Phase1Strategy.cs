using System.Diagnostics;
using Bmm.Recompute;
using Bmm.Refresh;
using Bmm.Strategies.Sequential;
using Bmm.Writing;
using Npgsql;

namespace Bmm.Strategies.Phase1;

/// <summary>
/// Baseline: the plan's Phase 1 as the site shipped it. The pre-plan job (<see cref="SequentialStrategy"/>)
/// with the queue passed as one int[] parameter, batches of 500 run 5 at a time, each batch's
/// two aggregations run as two parallel queries merged in memory, and upsert chunks of 250,
/// 10 at a time. Faster; otherwise as wrong as before: stale rows are never deleted; changes
/// that do not touch ModelVersionMetric."updatedAt" are missed; commits later than the grace are
/// skipped; pairs with reviews but no metric row are dropped by the merge; unchanged rows are
/// rewritten; sums are not clamped.
/// </summary>
public sealed class Phase1Strategy : IRefreshStrategy
{
    /// <summary>Models per batch (was 200).</summary>
    public const int BatchSize = 500;

    /// <summary>Batches aggregated at once (was 1).</summary>
    public const int AggregationConcurrency = 5;

    /// <summary>Rows per upsert statement (was 100).</summary>
    public const int UpsertChunkSize = 250;

    public string Name => "phase1";

    public string Description => "Baseline: the plan's Phase 1 as shipped (500-model batches 5 at a time, split queries, rewrites every row).";

    /// <summary>Reads no change log: a timestamp watermark, as the plan has it.</summary>
    public string? Consumer => null;

    /// <summary>Not reconciled: kept as the plan had it, drift included.</summary>
    public Reconciliation Reconciliation => Reconciliation.None;

    /// <summary>`verify --repair` on a table this strategy keeps recomputes the drifted models exactly.</summary>
    public Task<WriteCounts> RepairAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, CancellationToken cancellationToken) =>
        Recomputer.RefreshModelsAsync(connection, transaction, modelIds, Recount.Everything, cancellationToken);

    public Task RefreshAsync(RefreshContext context, RefreshResult result, CancellationToken cancellationToken) =>
        BaselineSteps.RunAsync(context, result, new ArrayQueue(), async (affected, result) =>
        {
            var batches = affected.Chunk(BatchSize).ToArray();
            var merged = new List<PairStats>[batches.Length];
            await Parallel.ForEachAsync(
                Enumerable.Range(0, batches.Length),
                new ParallelOptions { MaxDegreeOfParallelism = AggregationConcurrency, CancellationToken = cancellationToken },
                async (i, token) => merged[i] = await AggregateAsync(context, batches[i], token));
            result.Batches = batches.Length;
            return merged.SelectMany(batch => batch).ToList();
        }, UpsertChunkSize, cancellationToken);

    private static async Task<List<PairStats>> AggregateAsync(RefreshContext context, int[] ids, CancellationToken cancellationToken)
    {
        var versionsTask = VersionStatsAsync(context, ids, cancellationToken);
        var reviewsTask = ReviewStatsAsync(context, ids, cancellationToken);
        await Task.WhenAll(versionsTask, reviewsTask);
        var versions = await versionsTask;
        var reviews = await reviewsTask;

        // The version query alone decides which pairs exist. Flaw: a review count whose pair it
        // did not produce (reviews on a Published version without a metric row) is dropped.
        var pairs = new Dictionary<(int ModelId, string BaseModel), PairStats>(versions.Count);
        foreach (var pair in versions) pairs[(pair.ModelId, pair.BaseModel)] = pair;
        foreach (var (modelId, baseModel, thumbsUp) in reviews)
        {
            if (pairs.TryGetValue((modelId, baseModel), out var pair))
                pairs[(modelId, baseModel)] = pair with { ThumbsUpCount = thumbsUp };
        }
        return [.. pairs.Values];
    }

    private static async Task<List<PairStats>> VersionStatsAsync(RefreshContext context, int[] ids, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var rows = new List<PairStats>();
        await using (var command = BatchCommand(context.DataSource, Phase1Sql.VersionStats, ids))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
                rows.Add(new PairStats(reader.GetInt32(0), reader.GetString(1), 0, reader.GetInt64(2), reader.GetInt64(3)));
        }
        RecordBatchQuery(context, "version", started);
        return rows;
    }

    private static async Task<List<(int ModelId, string BaseModel, long ThumbsUp)>> ReviewStatsAsync(RefreshContext context, int[] ids, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var rows = new List<(int, string, long)>();
        await using (var command = BatchCommand(context.DataSource, Phase1Sql.ReviewStats, ids))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
                rows.Add((reader.GetInt32(0), reader.GetString(1), reader.GetInt64(2)));
        }
        RecordBatchQuery(context, "review", started);
        return rows;
    }

    private static NpgsqlCommand BatchCommand(NpgsqlDataSource dataSource, string sql, int[] ids)
    {
        var command = dataSource.CreateCommand(sql);
        command.Parameters.AddWithValue("ids", ids);
        command.Parameters.AddWithValue("first", ids[0]);
        command.Parameters.AddWithValue("last", ids[^1]);
        return command;
    }

    private static void RecordBatchQuery(RefreshContext context, string query, long started) =>
        context.Metrics.BatchDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds,
            new KeyValuePair<string, object?>("strategy", "phase1"), new KeyValuePair<string, object?>("query", query));

    /// <summary>The queue as Phase 1 passes it: one int[] parameter.</summary>
    private sealed class ArrayQueue : BaselineSteps.IQueueAccess
    {
        public async Task CountQueuedVersionsAsync(NpgsqlDataSource dataSource, int[] queue, CancellationToken cancellationToken)
        {
            await using var command = dataSource.CreateCommand(Phase1Sql.QueuedVersions);
            command.Parameters.AddWithValue("ids", queue);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                // Read and dropped: the site only logged how many there were.
            }
        }

        public async Task ClearQueueAsync(NpgsqlDataSource dataSource, int[] queue, CancellationToken cancellationToken)
        {
            await using var command = dataSource.CreateCommand(Phase1Sql.ClearQueue);
            command.Parameters.AddWithValue("ids", queue);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }
}
