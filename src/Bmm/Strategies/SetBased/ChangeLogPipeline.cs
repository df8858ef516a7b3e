using System.Diagnostics;
using System.Text.Json;
using Bmm.Capture;
using Bmm.Refresh;
using Bmm.Telemetry;
using Npgsql;

namespace Bmm.Strategies.SetBased;

/// <summary>
/// Recomputes <paramref name="modelIds"/> in the caller's transaction and writes only what differs;
/// <paramref name="recountIds"/> are those whose distinct thumbs-up users may have moved.
/// </summary>
internal delegate Task<SetBasedStrategy.WriteCounts> BatchStatement(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, int[] recountIds, CancellationToken cancellationToken);

/// <summary>
/// The setbased run for one consumer of the change log and one batch statement, so that a
/// strategy differing only in how a batch computes its rows reuses the slicing, the batching
/// and the position handling. The explicit queue is taken first, each batch of ids in the
/// transaction that writes their results. Then a slice of the log is read once and its distinct
/// models recomputed in batches of their own transactions; the last batch advances the
/// consumer's position, so a failed or killed run leaves the position behind what was written,
/// never ahead, and the next run redoes the rest. A slice holds no more models than the run may
/// still recompute; the time budget is checked between slices.
/// </summary>
internal sealed class ChangeLogPipeline(string strategy, string consumer, BatchStatement batch)
{
    private static readonly SetBasedStrategy.WriteCounts NothingWritten = new(0, 0, 0, 0, "[]");

    /// <summary>Runs the queue and the change log into <paramref name="result"/>; <paramref name="budget"/> started with the run.</summary>
    public async Task RunAsync(RefreshContext context, RefreshResult result, Stopwatch budget, CancellationToken cancellationToken)
    {
        var options = context.Options;
        bool OverBudget() => result.AffectedModels >= options.MaxModelsPerRun || budget.Elapsed.TotalSeconds >= options.MaxSecondsPerRun;

        // The explicit queue: each batch takes its ids in the transaction that writes their results.
        while (!OverBudget())
        {
            var taken = await context.Transactions.RunAsync(async (connection, transaction, ct) =>
            {
                var ids = await result.TimeAsync("read_changes", () => ChangeLog.TakeQueuedAsync(connection, transaction, options.BatchSize, ct));
                return (ids, Write: ids.Length == 0 ? NothingWritten : await WriteAsync(connection, transaction, context, result, ids, ids, ct));
            }, cancellationToken);
            Count(context, result, taken.ids.Length, taken.Write);
            if (taken.ids.Length < options.BatchSize) break;
        }

        // The change log, slice by slice.
        LogPosition? position = null;
        while (true)
        {
            if (OverBudget())
            {
                result.BacklogLeft = true;
                Log.BudgetReached(context.Logger, result.AffectedModels);
                break;
            }
            var slice = await result.TimeAsync("read_changes",
                () => ChangeLog.ReadSliceAsync(context.DataSource, consumer, options.ScanSize,
                    options.MaxModelsPerRun - result.AffectedModels, cancellationToken));
            // Nothing below the horizon: the position may stay, since no row can appear behind it.
            if (slice.LogRows == 0)
            {
                position = slice.From;
                break;
            }
            await WriteBatchesAsync(context, result, slice.ModelIds, slice.RecountIds.ToHashSet(),
                (connection, transaction, ct) => result.TimeAsync("advance_position", () => ChangeLog.AdvanceAsync(connection, transaction, consumer, slice, ct)),
                cancellationToken);
            position = slice.To;
            if (!slice.Full) break;
        }
        // A run that moved nothing leaves nothing new to clean up.
        if (result.Batches > 0)
            await result.TimeAsync("maintenance", () => ChangeLog.MaintainAsync(context.DataSource, context.Logger, cancellationToken));
        result.Watermark = position is { } p ? $"xid {p.Xid}" : null;
    }

    /// <summary>
    /// Recomputes <paramref name="modelIds"/> in batches of their own transactions; the last one
    /// (there is one even for no models) also runs <paramref name="inLastTransaction"/>, which
    /// records that the whole set is done.
    /// </summary>
    public async Task WriteBatchesAsync(RefreshContext context, RefreshResult result, int[] modelIds, IReadOnlySet<int> recount,
        Func<NpgsqlConnection, NpgsqlTransaction, CancellationToken, Task> inLastTransaction, CancellationToken cancellationToken)
    {
        var batches = modelIds.Chunk(context.Options.BatchSize).ToList();
        if (batches.Count == 0) batches.Add([]);
        for (var i = 0; i < batches.Count; i++)
        {
            var last = i == batches.Count - 1;
            var ids = batches[i];
            var recountIds = ids.Where(recount.Contains).ToArray();
            var write = await context.Transactions.RunAsync(async (connection, transaction, ct) =>
            {
                var written = ids.Length == 0 ? NothingWritten : await WriteAsync(connection, transaction, context, result, ids, recountIds, ct);
                if (last) await inLastTransaction(connection, transaction, ct);
                return written;
            }, cancellationToken);
            Count(context, result, ids.Length, write);
        }
    }

    private async Task<SetBasedStrategy.WriteCounts> WriteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, RefreshContext context, RefreshResult result, int[] ids, int[] recountIds, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var write = await batch(connection, transaction, ids, recountIds, cancellationToken);
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        result.AddPhase("compute_and_write", seconds);
        context.Metrics.BatchDuration.Record(seconds, new KeyValuePair<string, object?>("strategy", strategy));
        return write;
    }

    /// <summary>Counted only once committed: a retried attempt must not count twice.</summary>
    internal static void Count(RefreshContext context, RefreshResult result, int models, SetBasedStrategy.WriteCounts write)
    {
        if (models == 0) return;
        result.Batches++;
        result.AffectedModels += models;
        result.AddWrite(write.Inserted, write.Updated, write.Deleted, write.Unchanged);
        using var clamped = JsonDocument.Parse(write.ClampedJson);
        foreach (var pair in clamped.RootElement.EnumerateArray())
        {
            result.Clamped++;
            context.Metrics.Clamps.Add(1);
            Log.Clamped(context.Logger, pair[0].GetInt32(), pair[1].GetString()!, pair[2].GetInt64(), pair[3].GetInt64());
        }
    }
}
