namespace Bmm.Seeding;

/// <summary>What to seed.</summary>
public sealed record SeedOptions
{
    public SeedScale Scale { get; init; } = SeedScale.Small;

    /// <summary>The seed of every random draw: the same seed gives the same rows.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>Truncate the site's tables (and the change log and queue) first, instead of refusing a database that holds data.</summary>
    public bool Replace { get; init; }

    /// <summary>
    /// Load as the site's writers would: triggers and foreign keys on (the capture logs every row
    /// and the site's publish trigger inserts its zero rows), one transaction per table, and
    /// nothing else: the table and the job's positions are left for the job to catch up with (the
    /// benchmark's bulk scenario).
    /// </summary>
    public bool Captured { get; init; }
}
