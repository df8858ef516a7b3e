using System.Diagnostics;
using Bmm.Capture;
using Bmm.Refresh;
using Bmm.Telemetry;
using Bmm.Writing;
using Npgsql;

namespace Bmm.Strategies.Incremental;

/// <summary>
/// Exact deltas from the change log (its own consumer): each transaction takes a bounded step of
/// log rows and applies it (bmm.inc_apply: metric deltas added to the pairs their versions count
/// in, placements and reviews re-derived from their rows, distinct users by per-user
/// multiplicities), writing only the visible rows whose values moved, and advances the position,
/// all at once. A crash leaves state, table and position as the last commit left them; a window
/// already applied is refused. The first run builds the state from a snapshot
/// (<see cref="IncrementalState.BootstrapAsync"/>).
/// </summary>
public sealed class IncrementalStrategy : IRefreshStrategy
{
    public string Name => "incremental";

    public string Description => "Exact deltas with per-user multiplicity state; what `bmm follow` applies continuously.";

    public string? Consumer => ChangeLog.IncrementalConsumer;

    public Reconciliation Reconciliation => Reconciliation.State;

    /// <summary>Re-derives the models, state included, as of the consumer's position.</summary>
    public Task<WriteCounts> RepairAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, CancellationToken cancellationToken) =>
        IncrementalState.RepairAsync(connection, transaction, modelIds, cancellationToken);

    public async Task RefreshAsync(RefreshContext context, RefreshResult result, CancellationToken cancellationToken)
    {
        var budget = Stopwatch.StartNew();
        await BootstrapIfNeededAsync(context, result, cancellationToken);
        await ApplyQueuedAsync(context, result, cancellationToken);
        var position = await ApplyPendingAsync(context, result,
            () => result.AffectedModels >= context.Options.MaxModelsPerRun || budget.Elapsed.TotalSeconds >= context.Options.MaxSecondsPerRun,
            cancellationToken);
        // A run that moved nothing leaves nothing new to clean up.
        if (result.Batches > 0)
            await result.TimeAsync("maintenance", () => ChangeLog.MaintainAsync(context.DataSource, context.Logger, cancellationToken));
        result.Watermark = position?.ToString();
    }

    /// <summary>Builds the state from a snapshot when this database has none yet.</summary>
    public static async Task BootstrapIfNeededAsync(RefreshContext context, RefreshResult result, CancellationToken cancellationToken)
    {
        if (await IncrementalState.IsBootstrappedAsync(context.DataSource, cancellationToken)) return;
        await BootstrapAsync(context, result, cancellationToken);
    }

    private static async Task BootstrapAsync(RefreshContext context, RefreshResult result, CancellationToken cancellationToken)
    {
        var (write, models) = await result.TimeAsync("bootstrap", () => IncrementalState.BootstrapAsync(context.DataSource, context.Transactions, cancellationToken));
        result.Record(context, models, write);
        Log.IncrementalBootstrapped(context.Logger, write.Inserted, write.Updated, write.Deleted);
    }

    /// <summary>The explicit queue (bmm enqueue): each queued model is re-derived in full, state included.</summary>
    public static async Task ApplyQueuedAsync(RefreshContext context, RefreshResult result, CancellationToken cancellationToken)
    {
        var batchSize = context.Options.BatchSize;
        while (true)
        {
            var taken = await context.Transactions.RunAsync(async (connection, transaction, ct) =>
            {
                var ids = await result.TimeAsync("read_changes", () => ChangeLog.TakeQueuedAsync(connection, transaction, batchSize, ct));
                var write = ids.Length == 0 ? WriteCounts.None : await result.TimeAsync("compute_and_write", () => IncrementalState.RepairAsync(connection, transaction, ids, ct));
                return (ids, write);
            }, cancellationToken);
            result.Record(context, taken.ids.Length, taken.write);
            if (taken.ids.Length < batchSize) return;
        }
    }

    /// <summary>
    /// Applies the pending log rows, one bounded transaction at a time, until none is left below
    /// the horizon or <paramref name="overBudget"/> says stop; a backlog of more than
    /// Job:IncrementalRebuildRows rows rebuilds the state from a snapshot instead, and what
    /// committed after that snapshot is then applied. Returns the position reached.
    /// </summary>
    public static async Task<LogPosition?> ApplyPendingAsync(RefreshContext context, RefreshResult result, Func<bool> overBudget, CancellationToken cancellationToken)
    {
        LogPosition? position = null;
        // One rebuild per call at most: what commits meanwhile is applied, however much it is.
        var rebuildRows = context.Options.IncrementalRebuildRows;
        while (true)
        {
            if (overBudget())
            {
                result.BacklogLeft = true;
                Log.BudgetReached(context.Logger, result.AffectedModels);
                return position;
            }
            var (from, write) = await context.Transactions.RunAsync(async (connection, transaction, ct) =>
            {
                var (from, horizon) = await result.TimeAsync("read_changes", async () =>
                    ((await ChangeLog.ReadConsumerAsync(connection, transaction, ChangeLog.IncrementalConsumer, ct)).Position,
                     await ChangeLog.ReadHorizonAsync(connection, transaction, ct)));
                var started = Stopwatch.GetTimestamp();
                var write = await IncrementalState.ApplyAsync(connection, transaction, from, horizon,
                    context.Options.IncrementalBatchRows, rebuildRows, ct);
                // With nothing pending (or to be rebuilt) the position stays where it is: an idle tick writes nothing at all.
                if (write.Rebuild) result.AddPhase("read_changes", Stopwatch.GetElapsedTime(started).TotalSeconds);
                if (write.LogRows == 0) return (from, write);
                var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
                result.AddPhase("compute_and_write", seconds);
                context.Metrics.BatchDuration.Record(seconds, new KeyValuePair<string, object?>("strategy", "incremental"));
                // Same transaction: the position never runs ahead of the state, nor behind it.
                await result.TimeAsync("advance_position", () => ChangeLog.AdvanceAsync(connection, transaction, ChangeLog.IncrementalConsumer,
                    new ConsumerState(from, null, null), new ConsumerState(write.To, null, null), ct));
                return (from, write);
            }, cancellationToken);
            if (write.Rebuild)
            {
                Log.IncrementalRebuilding(context.Logger, rebuildRows);
                await BootstrapAsync(context, result, cancellationToken);
                rebuildRows = 0;
                continue;
            }
            if (write.LogRows == 0) return position ?? from;
            if (write.Anomalies > 0) Log.IncrementalAnomalies(context.Logger, write.Anomalies);
            // A step that moved no visible row still counts as one, so that its log is maintained.
            result.Record(context, Math.Max(1, write.Models), write.Write);
            position = write.To;
            if (!write.CutShort) return position;
        }
    }
}
