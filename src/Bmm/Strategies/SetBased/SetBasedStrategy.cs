using System.Diagnostics;
using System.Text.Json;
using Bmm.Capture;
using Bmm.Refresh;
using Bmm.Telemetry;
using Npgsql;

namespace Bmm.Strategies.SetBased;

/// <summary>
/// The default: consumes the change log written by the capture triggers (so no change is lost,
/// hard deletes and late commits included), recomputes the changed models in set-based batches
/// and writes only the rows that differ. Each batch is one transaction that also advances the
/// consumer's position, so a failed or killed run leaves table and position consistent.
/// A run stops at its model or time budget and leaves the rest for the next run.
/// </summary>
public sealed class SetBasedStrategy : IRefreshStrategy
{
    public string Name => "setbased";

    public string Description => "Change-log driven, exact, writes only changed rows (default).";

    public async Task<RefreshResult> RefreshAsync(RefreshContext context, CancellationToken cancellationToken)
    {
        var result = new RefreshResult();
        var options = context.Options;
        var budget = Stopwatch.StartNew();
        LogPosition? position = null;
        while (true)
        {
            var batch = await context.Transactions.RunAsync(
                (connection, transaction, ct) => RefreshBatchAsync(connection, transaction, context, result, options.BatchSize, ct),
                cancellationToken);
            // Counted only once committed: a retried attempt must not count twice.
            var slice = batch.Slice;
            position = slice.To;
            if (slice.ModelIds.Length > 0) result.Batches++;
            result.AffectedModels += slice.ModelIds.Length;
            result.AddWrite(batch.Write.Inserted, batch.Write.Updated, batch.Write.Deleted, batch.Write.Unchanged);
            ReportClamps(context, result, batch.Write.ClampedJson);
            if (!slice.MoreWaiting) break;
            if (result.AffectedModels >= options.MaxModelsPerRun || budget.Elapsed.TotalSeconds >= options.MaxSecondsPerRun)
            {
                result.BacklogLeft = true;
                Log.BudgetReached(context.Logger, result.AffectedModels);
                break;
            }
        }
        await result.TimeAsync("maintenance", () => ChangeLog.MaintainAsync(context.DataSource, context.Logger, cancellationToken));
        result.Watermark = position is { } p ? $"xid {p.Xid}" : null;
        return result;
    }

    private sealed record BatchOutcome(ChangeSlice Slice, WriteCounts Write);

    private static readonly WriteCounts NothingWritten = new(0, 0, 0, 0, "[]");

    private static async Task<BatchOutcome> RefreshBatchAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, RefreshContext context, RefreshResult result, int batchSize, CancellationToken cancellationToken)
    {
        var slice = await result.TimeAsync("read_changes",
            () => ChangeLog.TakeSliceAsync(connection, transaction, ChangeLog.SetBasedConsumer, batchSize, cancellationToken));
        var outcome = new BatchOutcome(slice, NothingWritten);
        if (slice.ModelIds.Length > 0)
        {
            var started = Stopwatch.GetTimestamp();
            var write = await RefreshModelsAsync(connection, transaction, slice.ModelIds, cancellationToken);
            outcome = new BatchOutcome(slice, write);
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            result.AddPhase("compute_and_write", seconds);
            context.Metrics.BatchDuration.Record(seconds, new KeyValuePair<string, object?>("strategy", "setbased"));
        }
        await result.TimeAsync("advance_position",
            () => ChangeLog.AdvanceAsync(connection, transaction, ChangeLog.SetBasedConsumer, slice.To, cancellationToken));
        return outcome;
    }

    /// <summary>What one application of <see cref="SetBasedSql.RefreshModels"/> wrote.</summary>
    public sealed record WriteCounts(long Inserted, long Updated, long Deleted, long Unchanged, string ClampedJson);

    /// <summary>Recomputes the given models from their current state and writes only what differs.</summary>
    public static async Task<WriteCounts> RefreshModelsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(SetBasedSql.RefreshModels, connection, transaction);
        command.Parameters.AddWithValue("ids", modelIds);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var desired = reader.GetInt64(0);
        var inserted = reader.GetInt64(1);
        var updated = reader.GetInt64(2);
        return new WriteCounts(inserted, updated, reader.GetInt64(3), desired - inserted - updated, reader.GetString(4));
    }

    private static void ReportClamps(RefreshContext context, RefreshResult result, string clampedJson)
    {
        using var clamped = JsonDocument.Parse(clampedJson);
        foreach (var pair in clamped.RootElement.EnumerateArray())
        {
            result.Clamped++;
            context.Metrics.Clamps.Add(1);
            Log.Clamped(context.Logger, pair[0].GetInt32(), pair[1].GetString()!, pair[2].GetInt64(), pair[3].GetInt64());
        }
    }
}
