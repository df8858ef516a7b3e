using System.Diagnostics;
using Bmm.Capture;
using Bmm.Refresh;
using Npgsql;

namespace Bmm.Strategies.SetBased;

/// <summary>
/// The default: consumes the change log written by the capture triggers (so no change is lost,
/// hard deletes and late commits included), recomputes the changed models in set-based batches
/// and writes only the rows that differ (<see cref="ChangeLogPipeline"/> with
/// <see cref="SetBasedSql.RefreshModels"/>).
/// </summary>
public sealed class SetBasedStrategy : IRefreshStrategy
{
    public string Name => "setbased";

    public string Description => "Change-log driven, exact, writes only changed rows (default).";

    private static readonly ChangeLogPipeline Pipeline = new("setbased", ChangeLog.SetBasedConsumer, RefreshModelsAsync);

    public async Task<RefreshResult> RefreshAsync(RefreshContext context, CancellationToken cancellationToken)
    {
        var result = new RefreshResult();
        await Pipeline.RunAsync(context, result, Stopwatch.StartNew(), cancellationToken);
        return result;
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
        await RowLocks.LockInKeyOrderAsync(connection, transaction, modelIds, cancellationToken);
        await using var command = new NpgsqlCommand(SetBasedSql.RefreshModels, connection, transaction);
        command.Parameters.AddWithValue("ids", modelIds);
        command.Parameters.AddWithValue("recount", recountIds);
        return await ExecuteBatchAsync(command, cancellationToken);
    }

    /// <summary>Runs a batch statement ending in <see cref="SetBasedSql.WriteDesired"/> and reads what it wrote.</summary>
    internal static async Task<WriteCounts> ExecuteBatchAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var desired = reader.GetInt64(0);
        var inserted = reader.GetInt64(1);
        var updated = reader.GetInt64(2);
        return new WriteCounts(inserted, updated, reader.GetInt64(3), desired - inserted - updated, reader.GetString(4));
    }
}
