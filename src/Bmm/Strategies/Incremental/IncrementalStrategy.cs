using System.Diagnostics;
using Bmm.Capture;
using Bmm.Refresh;
using Bmm.Strategies.SetBased;
using Bmm.Telemetry;

namespace Bmm.Strategies.Incremental;

/// <summary>
/// Exact deltas from the change log (its own consumer): each transaction reads a bounded run of
/// log rows, applies the changes of their models and reviews against the applied state
/// (bmm.inc_apply: sums move by new minus applied, distinct users by per-user multiplicities),
/// writes only the visible rows whose values moved, and advances the position, all at once. A
/// crash leaves state, table and position as the last commit left them; a replay is a no-op.
/// The first run builds the state from a snapshot (see <see cref="IncrementalState.BootstrapAsync"/>).
/// </summary>
public sealed class IncrementalStrategy : IRefreshStrategy
{
    public string Name => "incremental";

    public string Description => "Exact deltas with per-user multiplicity state; what `bmm follow` applies continuously.";

    public async Task<RefreshResult> RefreshAsync(RefreshContext context, CancellationToken cancellationToken)
    {
        var result = new RefreshResult();
        var budget = Stopwatch.StartNew();
        await BootstrapIfNeededAsync(context, result, cancellationToken);
        await ApplyQueuedAsync(context, result, cancellationToken);
        var position = await ApplyPendingAsync(context, result,
            () => result.AffectedModels >= context.Options.MaxModelsPerRun || budget.Elapsed.TotalSeconds >= context.Options.MaxSecondsPerRun,
            cancellationToken);
        // A run that moved nothing leaves nothing new to clean up.
        if (result.Batches > 0)
            await result.TimeAsync("maintenance", () => ChangeLog.MaintainAsync(context.DataSource, context.Logger, cancellationToken));
        result.Watermark = position is { } p ? $"xid {p.Xid}" : null;
        return result;
    }

    /// <summary>Builds the state from a snapshot when this database has none yet.</summary>
    public static async Task BootstrapIfNeededAsync(RefreshContext context, RefreshResult result, CancellationToken cancellationToken)
    {
        if (await IncrementalState.IsBootstrappedAsync(context.DataSource, cancellationToken)) return;
        var (inserted, updated, deleted) = await result.TimeAsync("bootstrap", () => IncrementalState.BootstrapAsync(context.DataSource, cancellationToken));
        result.AddWrite(inserted, updated, deleted, 0);
        Log.IncrementalBootstrapped(context.Logger, inserted, updated, deleted);
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
                var write = ids.Length == 0 ? null : await result.TimeAsync("compute_and_write", () => IncrementalState.RepairAsync(connection, transaction, ids, ct));
                return (ids, write);
            }, cancellationToken);
            if (taken.write is not null) Count(context, result, taken.ids.Length, taken.write);
            if (taken.ids.Length < batchSize) return;
        }
    }

    /// <summary>
    /// Applies the pending log rows, one bounded transaction at a time, until none is left below
    /// the horizon or <paramref name="overBudget"/> says stop. Returns the position reached.
    /// </summary>
    public static async Task<LogPosition?> ApplyPendingAsync(RefreshContext context, RefreshResult result, Func<bool> overBudget, CancellationToken cancellationToken)
    {
        LogPosition? position = null;
        while (true)
        {
            if (overBudget())
            {
                result.BacklogLeft = true;
                Log.BudgetReached(context.Logger, result.AffectedModels);
                return position;
            }
            var applied = await context.Transactions.RunAsync(async (connection, transaction, ct) =>
            {
                var rows = await result.TimeAsync("read_changes", () => ChangeLog.ReadRowsAsync(connection, transaction, ChangeLog.IncrementalConsumer, context.Options.IncrementalBatchRows, ct));
                if (rows.LogRows == 0) return (rows, Write: (IncrementalWrite?)null);
                var started = Stopwatch.GetTimestamp();
                var write = await IncrementalState.ApplyAsync(connection, transaction, rows, ct);
                var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
                result.AddPhase("compute_and_write", seconds);
                context.Metrics.BatchDuration.Record(seconds, new KeyValuePair<string, object?>("strategy", "incremental"));
                // Same transaction: the position never runs ahead of the state, nor behind it.
                await result.TimeAsync("advance_position", () => ChangeLog.AdvanceAsync(connection, transaction, ChangeLog.IncrementalConsumer, rows.From, rows.To, ct));
                return (rows, Write: write);
            }, cancellationToken);
            // With nothing read the position stays where it is: an idle tick writes nothing at all.
            if (applied.Write is not null) Count(context, result, applied.rows.ModelIds.Length + applied.rows.ReviewIds.Length, applied.Write);
            position = applied.rows.LogRows == 0 ? applied.rows.From : applied.rows.To;
            if (!applied.rows.Full) return position;
        }
    }

    /// <summary>Counted once committed; anomalies (state below zero) can only come from drift, which reconciliation repairs.</summary>
    private static void Count(RefreshContext context, RefreshResult result, int changes, IncrementalWrite write)
    {
        if (write.Anomalies > 0) Log.IncrementalAnomalies(context.Logger, write.Anomalies);
        ChangeLogPipeline.Count(context, result, changes, new SetBasedStrategy.WriteCounts(write.Inserted, write.Updated, write.Deleted, write.Unchanged, write.ClampedJson));
    }
}
