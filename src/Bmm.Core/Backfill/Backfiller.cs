using System.Diagnostics;
using Bmm.Configuration;
using Bmm.Database;
using Bmm.Recompute;
using Bmm.Refresh;
using Bmm.Telemetry;
using Bmm.Writing;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.Backfill;

/// <summary>Where a backfill is: models walked so far out of the total, and the current phase.</summary>
public sealed record BackfillProgress(string Phase, long ModelsDone, long ModelsTotal);

/// <summary>What a backfill did.</summary>
public sealed record BackfillReport(long Models, int Batches, long Inserted, long Updated, long Deleted, long Unchanged, long Clamped, long OrphanModels, double Seconds);

/// <summary>
/// Rebuilds the whole table in bounded steps: walks "Model" in keyset order, recomputing each
/// batch of models with the setbased statement (which writes only rows that differ, so on an
/// empty table it inserts and on a correct one it writes nothing) in one short transaction per
/// batch, then removes the rows of models that no longer exist. Holds the runner lock
/// throughout, so no scheduled run interleaves; feed reads are never blocked (MVCC), and no
/// transaction lasts longer than one batch.
/// </summary>
public static class Backfiller
{
    public const int DefaultBatchModels = 20_000;

    /// <summary>Rebuilds the table; <paramref name="strategies"/> are every strategy, whose state this write makes invalid.</summary>
    public static async Task<BackfillReport> RunAsync(
        NpgsqlDataSource dataSource, JobOptions options, int batchModels, IProgress<BackfillProgress>? progress,
        IReadOnlyCollection<IRefreshStrategy> strategies, ILogger logger, JobMetrics metrics, CancellationToken cancellationToken)
    {
        if (batchModels < 1) throw new UsageException("--batch-models must be at least 1.");
        await using var runnerLock = await RunnerLock.TryAcquireAsync(dataSource, cancellationToken)
            ?? throw new UsageException($"{await RunnerLock.DescribeHolderAsync(dataSource, cancellationToken)} holds the runner lock: backfill needs the table to itself, so try again when it has finished (or stop it).");
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, runnerLock.Lost);
        try
        {
            return await RunLockedAsync(dataSource, options, batchModels, progress, strategies, logger, metrics, linked.Token);
        }
        catch (OperationCanceledException e) when (runnerLock.Lost.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new InvalidOperationException("The connection holding the runner lock was lost; the backfill stopped (the batches done so far are committed).", e);
        }
    }

    private static async Task<BackfillReport> RunLockedAsync(
        NpgsqlDataSource dataSource, JobOptions options, int batchModels, IProgress<BackfillProgress>? progress,
        IReadOnlyCollection<IRefreshStrategy> strategies, ILogger logger, JobMetrics metrics, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var transactions = new Transactions(dataSource, options, logger, metrics);
        await StateKeepers.ForgetOthersAsync(dataSource, strategies, "backfill", logger, cancellationToken);
        var tag = new KeyValuePair<string, object?>("strategy", "backfill");
        long total;
        await using (var count = dataSource.CreateCommand(BackfillSql.CountModels))
            total = (long)(await count.ExecuteScalarAsync(cancellationToken))!;
        Log.BackfillStarted(logger, total, batchModels);
        progress?.Report(new BackfillProgress("models", 0, total));

        var totals = new Totals();
        var after = 0;
        while (true)
        {
            var batchStarted = Stopwatch.GetTimestamp();
            var (ids, write) = await RefreshNextAsync(transactions, BackfillSql.NextModelIds, after, batchModels, cancellationToken);
            if (write is null) break;
            var seconds = Stopwatch.GetElapsedTime(batchStarted).TotalSeconds;
            after = ids[^1];
            totals.Batches++;
            totals.Models += ids.Length;
            totals.Add(write, logger, metrics);
            metrics.BatchDuration.Record(seconds, tag);
            Log.BackfillBatch(logger, totals.Batches, ids[0], after, write.Inserted, write.Updated, write.Deleted, write.Unchanged, seconds);
            progress?.Report(new BackfillProgress("models", totals.Models, Math.Max(total, totals.Models)));
            if (ids.Length < batchModels) break;
        }

        // Models deleted from "Model" leave rows behind (production has no foreign key): the
        // setbased statement removes every row of a model it finds no Published version for.
        progress?.Report(new BackfillProgress("deleted models", totals.Models, Math.Max(total, totals.Models)));
        after = 0;
        while (true)
        {
            var (ids, write) = await RefreshNextAsync(transactions, BackfillSql.NextOrphanIds, after, batchModels, cancellationToken);
            if (write is null) break;
            after = ids[^1];
            totals.Orphans += ids.Length;
            totals.Add(write, logger, metrics);
            if (ids.Length < batchModels) break;
        }
        if (totals.Orphans > 0) Log.BackfillOrphansRemoved(logger, totals.Orphans);

        metrics.RecordWork(tag, totals.Models + totals.Orphans, totals.Inserted, totals.Updated, totals.Deleted, totals.Unchanged);
        var report = new BackfillReport(totals.Models, totals.Batches, totals.Inserted, totals.Updated, totals.Deleted, totals.Unchanged,
            totals.Clamped, totals.Orphans, Stopwatch.GetElapsedTime(started).TotalSeconds);
        Log.BackfillFinished(logger, report.Models, report.Batches, report.Inserted, report.Updated, report.Deleted, report.Unchanged, report.Seconds);
        return report;
    }

    /// <summary>One transaction: the next ids after <paramref name="after"/>, recomputed. A retry re-reads the ids.</summary>
    private static Task<(int[] Ids, WriteCounts? Write)> RefreshNextAsync(
        Transactions transactions, string idsSql, int after, int limit, CancellationToken cancellationToken) =>
        transactions.RunAsync(async (connection, transaction, ct) =>
        {
            var ids = await ReadIdsAsync(connection, transaction, idsSql, after, limit, ct);
            var write = ids.Length == 0 ? null : await Recomputer.RefreshModelsAsync(connection, transaction, ids, Recount.Everything, ct);
            return (ids, write);
        }, cancellationToken);

    private static async Task<int[]> ReadIdsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, int after, int limit, CancellationToken cancellationToken)
    {
        var ids = new List<int>(Math.Min(limit, 100_000));
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddWithValue("after", after);
        command.Parameters.AddWithValue("limit", limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) ids.Add(reader.GetInt32(0));
        return [.. ids];
    }

    private sealed class Totals
    {
        public long Models, Orphans, Inserted, Updated, Deleted, Unchanged, Clamped;
        public int Batches;

        public void Add(WriteCounts write, ILogger logger, JobMetrics metrics)
        {
            Inserted += write.Inserted;
            Updated += write.Updated;
            Deleted += write.Deleted;
            Unchanged += write.Unchanged;
            foreach (var pair in write.ClampedPairs())
            {
                Clamped++;
                metrics.Clamps.Add(1);
                Log.Clamped(logger, pair.ModelId, pair.BaseModel, pair.Downloads, pair.Images);
            }
        }
    }
}
