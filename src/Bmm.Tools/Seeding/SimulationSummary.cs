namespace Bmm.Seeding;

/// <summary>What a simulation changed, by kind, and the simulated time span.</summary>
public sealed class SimulationSummary
{
    public int Minutes { get; init; }
    public double Rate { get; init; }
    public int Seed { get; init; }
    /// <summary>The simulated clock at the start and at the end (UTC).</summary>
    public DateTime SimulatedStart { get; init; }
    public DateTime SimulatedEnd { get; internal set; }

    /// <summary>Rows of "ModelVersionMetric" updated, and the bulk statements that did it.</summary>
    public long MetricRows { get; internal set; }
    public long MetricStatements { get; internal set; }
    /// <summary>Distinct models whose version metrics changed, averaged over the minutes.</summary>
    public double MetricModelsPerMinute { get; internal set; }

    public long ReviewsCreated { get; internal set; }
    public long ReviewsEdited { get; internal set; }
    public long ReviewsDeleted { get; internal set; }
    /// <summary>Distinct models whose reviews changed, averaged over the minutes.</summary>
    public double ReviewModelsPerMinute { get; internal set; }

    public long VersionsCreated { get; internal set; }
    public long VersionsPublished { get; internal set; }
    public long VersionsUnpublished { get; internal set; }
    public long VersionsMoved { get; internal set; }

    /// <summary>Model edits; <see cref="DenormalizedEdits"/> of them changed one of the six columns copied to the table.</summary>
    public long ModelEdits { get; internal set; }
    public long DenormalizedEdits { get; internal set; }
    public long ModelsDeleted { get; internal set; }

    /// <summary>Write transactions committed.</summary>
    public long Transactions { get; internal set; }
    /// <summary>Distinct models touched by any change over the whole run.</summary>
    public long DistinctModels { get; internal set; }
    public double WallSeconds { get; internal set; }
}
