namespace Bmm.Seeding;

/// <summary>What to seed.</summary>
public sealed record SeedOptions
{
    public SeedScale Scale { get; init; } = SeedScale.Small;

    /// <summary>The seed of every random draw: the same seed gives the same rows.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>Truncate the site's tables (and the change log and queue) first, instead of refusing a database that holds data.</summary>
    public bool Replace { get; init; }
}
