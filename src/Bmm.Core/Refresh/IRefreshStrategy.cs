namespace Bmm.Refresh;

/// <summary>
/// One way of computing a refresh of "ModelBaseModelMetric". A strategy is a class in its own
/// folder under Strategies/ with a parameterless constructor; <see cref="StrategyCatalog"/>
/// finds it by its <see cref="Name"/>.
/// </summary>
public interface IRefreshStrategy
{
    /// <summary>The name given to --strategy.</summary>
    string Name { get; }

    /// <summary>One line for --help.</summary>
    string Description { get; }

    /// <summary>The change-log consumer whose position this strategy advances; null for one that reads no log (the baselines).</summary>
    string? Consumer { get; }

    /// <summary>
    /// Brings the table up to date with the changes it can see. Called under the runner lock,
    /// never for two strategies at once.
    /// </summary>
    Task<RefreshResult> RefreshAsync(RefreshContext context, CancellationToken cancellationToken);
}
