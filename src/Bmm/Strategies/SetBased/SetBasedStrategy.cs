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
/// and writes only the rows that differ. A slice of the log is read once and its distinct models
/// recomputed in batches of their own transactions; the last batch advances the consumer's
/// position, so a failed or killed run leaves the position behind what was written, never ahead,
/// and the next run redoes the rest. A slice holds no more models than the run may still
/// recompute; the time budget is checked between slices.
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
                () => ChangeLog.ReadSliceAsync(context.DataSource, ChangeLog.SetBasedConsumer, options.ScanSize,
                    options.MaxModelsPerRun - result.AffectedModels, cancellationToken));
            var recount = slice.RecountIds.ToHashSet();
            var batches = slice.ModelIds.Chunk(options.BatchSize).ToList();
            if (batches.Count == 0) batches.Add([]);
            for (var i = 0; i < batches.Count; i++)
            {
                var last = i == batches.Count - 1;
                var ids = batches[i];
                var recountIds = ids.Where(recount.Contains).ToArray();
                var write = await context.Transactions.RunAsync(async (connection, transaction, ct) =>
                {
                    var written = ids.Length == 0 ? NothingWritten : await WriteAsync(connection, transaction, context, result, ids, recountIds, ct);
                    if (last)
                        await result.TimeAsync("advance_position", () => ChangeLog.AdvanceAsync(connection, transaction, ChangeLog.SetBasedConsumer, slice, ct));
                    return written;
                }, cancellationToken);
                Count(context, result, ids.Length, write);
            }
            position = slice.To;
            if (!slice.Full) break;
        }
        await result.TimeAsync("maintenance", () => ChangeLog.MaintainAsync(context.DataSource, context.Logger, cancellationToken));
        result.Watermark = position is { } p ? $"xid {p.Xid}" : null;
        return result;
    }

    private static readonly WriteCounts NothingWritten = new(0, 0, 0, 0, "[]");

    private static async Task<WriteCounts> WriteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, RefreshContext context, RefreshResult result, int[] ids, int[] recountIds, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var write = await RefreshModelsAsync(connection, transaction, ids, recountIds, cancellationToken);
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        result.AddPhase("compute_and_write", seconds);
        context.Metrics.BatchDuration.Record(seconds, new KeyValuePair<string, object?>("strategy", "setbased"));
        return write;
    }

    /// <summary>Counted only once committed: a retried attempt must not count twice.</summary>
    internal static void Count(RefreshContext context, RefreshResult result, int models, WriteCounts write)
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

    /// <summary>What one application of <see cref="SetBasedSql.RefreshModels"/> wrote.</summary>
    public sealed record WriteCounts(long Inserted, long Updated, long Deleted, long Unchanged, string ClampedJson);

    /// <summary>Recomputes the given models from their current state and writes only what differs.</summary>
    public static Task<WriteCounts> RefreshModelsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, CancellationToken cancellationToken) =>
        RefreshModelsAsync(connection, transaction, modelIds, modelIds, cancellationToken);

    /// <summary>
    /// Recomputes the given models and writes only what differs; distinct thumbs-up users are
    /// recounted for <paramref name="recountIds"/> (and for pairs the table lacks), and kept as
    /// the table holds them for the others, whose only changes were version metrics.
    /// </summary>
    public static async Task<WriteCounts> RefreshModelsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, int[] recountIds, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(SetBasedSql.RefreshModels, connection, transaction);
        command.Parameters.AddWithValue("ids", modelIds);
        command.Parameters.AddWithValue("recount", recountIds);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var desired = reader.GetInt64(0);
        var inserted = reader.GetInt64(1);
        var updated = reader.GetInt64(2);
        return new WriteCounts(inserted, updated, reader.GetInt64(3), desired - inserted - updated, reader.GetString(4));
    }
}
