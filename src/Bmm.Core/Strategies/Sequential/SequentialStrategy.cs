using System.Diagnostics;
using System.Globalization;
using Bmm.Recompute;
using Bmm.Refresh;
using Bmm.Writing;
using Npgsql;

namespace Bmm.Strategies.Sequential;

/// <summary>
/// Baseline: the site's job as it was before the plan, flaws included, so that comparisons are
/// honest. Reads the "metric:basemodel" watermark minus 2 minutes, takes the models whose version
/// metrics were stamped since, plus the explicit queue, aggregates them in batches of 200 one
/// after another with one query each, then upserts every pair found in chunks of 100, 10 at a
/// time. On success it stores the run's start time as the watermark and clears the queue.
/// Known flaws (see the SQL for where each lives): stale rows are never deleted; changes that do
/// not touch ModelVersionMetric."updatedAt" (review edits and deletes, publishes, base-model
/// moves) are missed; commits later than the grace are skipped; pairs with reviews but no metric
/// row are dropped; unchanged rows are rewritten; sums are not clamped; one bind parameter per
/// queued id makes every run fail past 65,535 queued ids.
/// </summary>
public sealed class SequentialStrategy : IRefreshStrategy
{
    /// <summary>Models per aggregation query.</summary>
    public const int BatchSize = 200;

    /// <summary>Rows per upsert statement.</summary>
    public const int UpsertChunkSize = 100;

    public string Name => "sequential";

    public string Description => "Baseline: the site's job before the plan (watermark, 200-model batches one by one, rewrites every row).";

    /// <summary>Reads no change log: a timestamp watermark, as the plan has it.</summary>
    public string? Consumer => null;

    /// <summary>Not reconciled: kept as the plan had it, drift included.</summary>
    public Reconciliation Reconciliation => Reconciliation.None;

    /// <summary>`verify --repair` on a table this strategy keeps recomputes the drifted models exactly.</summary>
    public Task<WriteCounts> RepairAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, CancellationToken cancellationToken) =>
        Recomputer.RefreshModelsAsync(connection, transaction, modelIds, Recount.Everything, cancellationToken);

    public Task RefreshAsync(RefreshContext context, RefreshResult result, CancellationToken cancellationToken) =>
        BaselineSteps.RunAsync(context, result, new PerIdQueue(), async (affected, result) =>
        {
            var rows = new List<PairStats>();
            foreach (var batch in affected.Chunk(BatchSize))
            {
                rows.AddRange(await AggregateAsync(context, batch, cancellationToken));
                result.Batches++;
            }
            return rows;
        }, UpsertChunkSize, cancellationToken);

    private static async Task<List<PairStats>> AggregateAsync(RefreshContext context, int[] ids, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var rows = new List<PairStats>();
        await using (var command = context.DataSource.CreateCommand(SequentialSql.AggregateBatch))
        {
            command.Parameters.AddWithValue("ids", ids);
            command.Parameters.AddWithValue("first", ids[0]);
            command.Parameters.AddWithValue("last", ids[^1]);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
                rows.Add(new PairStats(reader.GetInt32(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4)));
        }
        context.Metrics.BatchDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("strategy", "sequential"));
        return rows;
    }

    /// <summary>The queue as the pre-plan job passed it: one bind parameter per id.</summary>
    private sealed class PerIdQueue : BaselineSteps.IQueueAccess
    {
        public async Task CountQueuedVersionsAsync(NpgsqlDataSource dataSource, int[] queue, CancellationToken cancellationToken)
        {
            await using var command = PerIdCommand(dataSource, SequentialSql.QueuedVersions, queue);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                // Read and dropped: the site only logged how many there were.
            }
        }

        public async Task ClearQueueAsync(NpgsqlDataSource dataSource, int[] queue, CancellationToken cancellationToken)
        {
            await using var command = PerIdCommand(dataSource, SequentialSql.ClearQueue, queue);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    /// <summary>
    /// The flaw, reproduced: one named parameter per id. Only parameter names go into the SQL;
    /// the ids themselves travel as values.
    /// </summary>
    private static NpgsqlCommand PerIdCommand(NpgsqlDataSource dataSource, string template, int[] ids)
    {
        var names = new string[ids.Length];
        for (var i = 0; i < ids.Length; i++) names[i] = "q" + i.ToString(CultureInfo.InvariantCulture);
        var sql = template.Replace(SequentialSql.QueuePlaceholders, string.Join(", ", names.Select(n => "@" + n)), StringComparison.Ordinal);
        var command = dataSource.CreateCommand(sql);
        for (var i = 0; i < ids.Length; i++) command.Parameters.AddWithValue(names[i], ids[i]);
        return command;
    }
}
