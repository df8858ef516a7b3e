using System.Diagnostics;
using Bmm.Capture;
using Bmm.Refresh;
using Bmm.Telemetry;
using Bmm.Writing;
using Npgsql;

namespace Bmm.Recompute;

/// <summary>
/// Recomputes <paramref name="modelIds"/> in the caller's transaction and writes only what differs,
/// recounting distinct thumbs-up users as <paramref name="recount"/> says.
/// </summary>
internal delegate Task<WriteCounts> BatchStatement(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, Recount recount, CancellationToken cancellationToken);

/// <summary>
/// The setbased run for one consumer of the change log and one batch statement, so that a
/// strategy differing only in how a batch computes its rows reuses the sweeps, the batching and
/// the position handling.
/// </summary>
/// <remarks>
/// The explicit queue is taken first, each batch of ids in the transaction that writes their
/// results. Then the log is consumed in sweeps: a sweep takes every row past the consumer's
/// position and below the horizon at its start, maps them to models (versions as they are now,
/// see bmm.changed_pairs), and recomputes those models in model order, in batches of their own
/// transactions. Each batch records the last model it recomputed in the same transaction, and the
/// last one moves the position past the sweep, so a killed run redoes only what it did not commit
/// and a model is recomputed once per sweep however many transactions changed it. A run cut by
/// its model or time budget leaves the sweep where it stopped; the next run goes on from there,
/// then starts one new sweep. A sweep larger than a run's model budget is planned when it starts
/// (bmm.sweep_plan), so that its later runs read their models from the plan, not the log again.
/// A backlog deeper than the site (a bulk load) is swept whole, every model, without mapping its
/// rows to models (see ChangeLogSql.StartSweep).
/// </remarks>
internal sealed class SweepPipeline(string strategy, string consumer, BatchStatement batch)
{
    /// <summary>Runs the queue and the change log into <paramref name="result"/>; <paramref name="budget"/> started with the run.</summary>
    public async Task RunAsync(RefreshContext context, RefreshResult result, Stopwatch budget, CancellationToken cancellationToken)
    {
        var options = context.Options;
        bool OverTime() => budget.Elapsed.TotalSeconds >= options.MaxSecondsPerRun;
        bool OverBudget() => result.AffectedModels >= options.MaxModelsPerRun || OverTime();

        // The explicit queue: each batch takes its ids in the transaction that writes their results.
        while (!OverBudget())
        {
            var taken = await context.Transactions.RunAsync(async (connection, transaction, ct) =>
            {
                var ids = await result.TimeAsync("read_changes", () => ChangeLog.TakeQueuedAsync(connection, transaction, options.BatchSize, ct));
                return (ids, Write: ids.Length == 0 ? WriteCounts.None : await WriteAsync(connection, transaction, context, result, ids, Recount.Everything, ct));
            }, cancellationToken);
            result.Record(context, taken.ids.Length, taken.Write);
            if (taken.ids.Length < options.BatchSize) break;
        }

        var sweepsStarted = 0;
        ConsumerState? reached = null;
        while (true)
        {
            await using var connection = await context.DataSource.OpenConnectionAsync(cancellationToken);
            // As in the job's transactions: compiling a day's sweep read cost more than it saved.
            await using (var noJit = new NpgsqlCommand(ChangeLogSql.NoJit, connection))
                await noJit.ExecuteNonQueryAsync(cancellationToken);
            var state = await result.TimeAsync("read_changes", () => ChangeLog.ReadConsumerAsync(connection, null, consumer, cancellationToken));
            long end;
            if (state.SweepEnd is { } resumed) end = resumed;
            else
            {
                // One new sweep per run: what commits meanwhile waits for the next run.
                reached = state;
                if (sweepsStarted > 0) break;
                var horizon = await result.TimeAsync("read_changes", () => ChangeLog.ReadHorizonAsync(connection, null, cancellationToken));
                // Nothing below the horizon: the position may stay, since no row can appear behind it.
                if (!await result.TimeAsync("read_changes", () => ChangeLog.AnyPendingAsync(connection, state.Position, horizon, cancellationToken))) break;
                end = horizon;
            }
            if (OverBudget())
            {
                result.BacklogLeft = true;
                Log.BudgetReached(context.Logger, result.AffectedModels);
                break;
            }
            if (state.SweepEnd is null) sweepsStarted++;
            var allowed = options.MaxModelsPerRun - result.AffectedModels;
            var models = await result.TimeAsync("read_changes", () => state.SweepEnd is null
                ? ChangeLog.StartSweepAsync(connection, consumer, state.Position, end, allowed, cancellationToken)
                : ChangeLog.ResumeSweepAsync(connection, consumer, state.Position, end, state.SweepModel ?? int.MinValue, allowed + 1, cancellationToken));
            await connection.CloseAsync();
            if (state.SweepEnd is null && models.Count > 0 && models[0].RecountBases is null) Log.SweepingEveryModel(context.Logger, consumer);
            var complete = models.Count <= allowed;
            if (!complete) models.RemoveRange((int)allowed, models.Count - (int)allowed);
            reached = await SweepAsync(context, result, state, end, models, complete, OverTime, cancellationToken);
            if (reached.SweepEnd is not null)
            {
                result.BacklogLeft = true;
                Log.BudgetReached(context.Logger, result.AffectedModels);
                break;
            }
        }
        // A run that moved nothing leaves nothing new to clean up.
        if (result.Batches > 0)
            await result.TimeAsync("maintenance", () => ChangeLog.MaintainAsync(context.DataSource, context.Logger, cancellationToken));
        result.Watermark = reached?.Position.ToString();
    }

    /// <summary>
    /// Recomputes a sweep's <paramref name="models"/> in batches; each batch's transaction records
    /// the last model it did, and when <paramref name="complete"/> the last one moves the position
    /// past the sweep (there is one such transaction even for no models). Stops early when
    /// <paramref name="overTime"/>. Returns the state reached.
    /// </summary>
    private async Task<ConsumerState> SweepAsync(RefreshContext context, RefreshResult result, ConsumerState from, long end,
        List<SweepModel> models, bool complete, Func<bool> overTime, CancellationToken cancellationToken)
    {
        var batches = models.Chunk(context.Options.BatchSize).ToList();
        if (batches.Count == 0) batches.Add([]);
        var state = from;
        for (var i = 0; i < batches.Count; i++)
        {
            if (i > 0 && overTime()) break;
            var chunk = batches[i];
            var ids = chunk.Select(m => m.ModelId).ToArray();
            var next = complete && i == batches.Count - 1
                ? new ConsumerState(LogPosition.EndOf(end - 1), null, null)
                : new ConsumerState(state.Position, end, ids[^1]);
            var current = state;
            var write = await context.Transactions.RunAsync(async (connection, transaction, ct) =>
            {
                var written = ids.Length == 0 ? WriteCounts.None : await WriteAsync(connection, transaction, context, result, ids, Recount.PairsOf(chunk), ct);
                await result.TimeAsync("advance_position", async () =>
                {
                    await ChangeLog.AdvanceAsync(connection, transaction, consumer, current, next, ct);
                    if (next.SweepEnd is null) await ChangeLog.EndSweepAsync(connection, transaction, consumer, ct);
                });
                return written;
            }, cancellationToken);
            result.Record(context, ids.Length, write);
            state = next;
        }
        return state;
    }

    /// <summary>Recomputes <paramref name="ids"/> in batches of their own transactions, recounting every pair (the queue, and repairs).</summary>
    public async Task WriteModelsAsync(RefreshContext context, RefreshResult result, int[] ids,
        Func<NpgsqlConnection, NpgsqlTransaction, CancellationToken, Task> inLastTransaction, CancellationToken cancellationToken)
    {
        var batches = ids.Chunk(context.Options.BatchSize).ToList();
        if (batches.Count == 0) batches.Add([]);
        for (var i = 0; i < batches.Count; i++)
        {
            var last = i == batches.Count - 1;
            var chunk = batches[i];
            var write = await context.Transactions.RunAsync(async (connection, transaction, ct) =>
            {
                var written = chunk.Length == 0 ? WriteCounts.None : await WriteAsync(connection, transaction, context, result, chunk, Recount.Everything, ct);
                if (last) await inLastTransaction(connection, transaction, ct);
                return written;
            }, cancellationToken);
            result.Record(context, chunk.Length, write);
        }
    }

    private async Task<WriteCounts> WriteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, RefreshContext context, RefreshResult result, int[] ids, Recount recount, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var write = await batch(connection, transaction, ids, recount, cancellationToken);
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        result.AddPhase("compute_and_write", seconds);
        context.Metrics.BatchDuration.Record(seconds, new KeyValuePair<string, object?>("strategy", strategy));
        return write;
    }

}
