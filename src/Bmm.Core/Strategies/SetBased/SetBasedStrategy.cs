using System.Diagnostics;
using Bmm.Capture;
using Bmm.Recompute;
using Bmm.Refresh;
using Bmm.Writing;
using Npgsql;

namespace Bmm.Strategies.SetBased;

/// <summary>
/// The default: consumes the change log written by the capture triggers (so no change is lost,
/// hard deletes and late commits included), recomputes the changed models in set-based batches
/// and writes only the rows that differ (<see cref="SweepPipeline"/> with
/// <see cref="Recomputer.RefreshModelsAsync(NpgsqlConnection, NpgsqlTransaction, int[], Recount, CancellationToken)"/>).
/// </summary>
public sealed class SetBasedStrategy : IRefreshStrategy
{
    public string Name => "setbased";

    public string Description => "Change-log driven, exact, writes only changed rows (default).";

    public string? Consumer => ChangeLog.SetBasedConsumer;

    public Reconciliation Reconciliation => Reconciliation.Table;

    private static readonly SweepPipeline Pipeline = new("setbased", ChangeLog.SetBasedConsumer, Recomputer.RefreshModelsAsync);

    public async Task RefreshAsync(RefreshContext context, RefreshResult result, CancellationToken cancellationToken) =>
        await Pipeline.RunAsync(context, result, Stopwatch.StartNew(), cancellationToken);

    /// <summary>Drifted models are recomputed from the site's tables, every pair recounted.</summary>
    public Task<WriteCounts> RepairAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, CancellationToken cancellationToken) =>
        Recomputer.RefreshModelsAsync(connection, transaction, modelIds, Recount.Everything, cancellationToken);
}
