using Bmm.Writing;
using Npgsql;

namespace Bmm.Refresh;

/// <summary>How a strategy's table is checked against the definition, and what repairing it means.</summary>
public enum Reconciliation
{
    /// <summary>Not reconciled: the baselines, kept as the plan had them.</summary>
    None,
    /// <summary>The table is compared with the definition; drifted models are recomputed.</summary>
    Table,
    /// <summary>
    /// The table and the strategy's own state are compared and repaired together. The table's
    /// counters are part of that state, so another writer of the table makes it invalid: the
    /// strategy then rebuilds it from a snapshot when its change-log consumer is gone.
    /// </summary>
    State,
}

/// <summary>
/// One way of computing a refresh of "ModelBaseModelMetric". A strategy is a folder under
/// Strategies/ and a line in the catalog; it describes itself (its change-log consumer, how it is
/// reconciled and repaired), and no code elsewhere matches on its name.
/// </summary>
public interface IRefreshStrategy
{
    /// <summary>The name given to --strategy.</summary>
    string Name { get; }

    /// <summary>One line for --help.</summary>
    string Description { get; }

    /// <summary>The change-log consumer whose position this strategy advances; null for one that reads no log (the baselines).</summary>
    string? Consumer { get; }

    /// <summary>How this strategy's table is reconciled.</summary>
    Reconciliation Reconciliation { get; }

    /// <summary>
    /// Brings the table up to date with the changes it can see, adding to <paramref name="result"/>
    /// what each transaction did once it committed, so that a run that fails midway still reports
    /// what it committed. Called under the runner lock, never for two strategies at once.
    /// </summary>
    Task RefreshAsync(RefreshContext context, RefreshResult result, CancellationToken cancellationToken);

    /// <summary>Re-derives drifted models from the site's tables as this strategy keeps them, in the caller's transaction.</summary>
    Task<WriteCounts> RepairAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, CancellationToken cancellationToken);
}
