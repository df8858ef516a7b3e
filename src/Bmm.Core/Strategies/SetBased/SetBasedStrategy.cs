using System.Diagnostics;
using Bmm.Capture;
using Bmm.Refresh;
using Bmm.Writing;
using Npgsql;

namespace Bmm.Strategies.SetBased;

/// <summary>
/// Which pairs of a batch to recount distinct thumbs-up users for: all of them, or the given
/// (model, base model) pairs (and those the table lacks).
/// </summary>
public sealed record Recount(bool All, int[] Models, string[] Bases)
{
    public static readonly Recount Everything = new(true, [], []);

    /// <summary>The pairs a sweep's models ask to recount.</summary>
    public static Recount PairsOf(IEnumerable<SweepModel> models)
    {
        var pairs = models.SelectMany(m => m.RecountBases.Select(b => (m.ModelId, Base: b))).ToList();
        return new Recount(false, pairs.Select(p => p.ModelId).ToArray(), pairs.Select(p => p.Base).ToArray());
    }
}

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

    public string? Consumer => ChangeLog.SetBasedConsumer;

    private static readonly ChangeLogPipeline Pipeline = new("setbased", ChangeLog.SetBasedConsumer, RefreshModelsAsync);

    public async Task<RefreshResult> RefreshAsync(RefreshContext context, CancellationToken cancellationToken)
    {
        var result = new RefreshResult();
        await Pipeline.RunAsync(context, result, Stopwatch.StartNew(), cancellationToken);
        return result;
    }

    /// <summary>
    /// Recomputes the given models in the caller's transaction and writes only what differs;
    /// distinct thumbs-up users are recounted as <paramref name="recount"/> says.
    /// </summary>
    public static async Task<WriteCounts> RefreshModelsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, Recount recount, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(SetBasedSql.RefreshModels, connection, transaction);
        command.Parameters.AddWithValue("ids", modelIds);
        command.Parameters.AddWithValue("recount_all", recount.All);
        command.Parameters.AddWithValue("recount_models", recount.Models);
        command.Parameters.AddWithValue("recount_bases", recount.Bases);
        return await ExecuteBatchAsync(command, cancellationToken);
    }

    /// <summary>Runs a batch statement ending in <see cref="SetBasedSql.WriteDesired"/> and reads what it wrote.</summary>
    internal static async Task<WriteCounts> ExecuteBatchAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return WriteCounts.Read(reader);
    }
}
