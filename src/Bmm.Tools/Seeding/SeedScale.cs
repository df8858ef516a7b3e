using Bmm.Configuration;

namespace Bmm.Seeding;

/// <summary>How large a synthetic site to seed.</summary>
public enum SeedScale
{
    /// <summary>About 2,000 models: for tests, seconds.</summary>
    Tiny,
    /// <summary>About 30,000 models: the demo.</summary>
    Small,
    /// <summary>About 200,000 models.</summary>
    Medium,
    /// <summary>The site's size: about 1,000,000 models, 1.2 million versions, 5 million reviews.</summary>
    Site,
}

/// <summary>The sizes of one scale. Users and reviews scale with the models, as on the site.</summary>
public sealed record SeedProfile(SeedScale Scale, int Models, int Users, double ReviewsPerModel)
{
    /// <summary>Large loads drop the secondary indexes first and build them once afterwards.</summary>
    public bool RebuildIndexes => Scale is SeedScale.Medium or SeedScale.Site;

    public static SeedProfile For(SeedScale scale) => scale switch
    {
        SeedScale.Tiny => new(scale, 2_000, 4_000, 5.0),
        SeedScale.Small => new(scale, 30_000, 60_000, 5.0),
        SeedScale.Medium => new(scale, 200_000, 400_000, 5.0),
        SeedScale.Site => new(scale, 1_000_000, 2_000_000, 5.0),
        _ => throw new ArgumentOutOfRangeException(nameof(scale), scale, null),
    };

    public static readonly string[] Names = ["tiny", "small", "medium", "site"];

    public static SeedScale Parse(string name) => name.ToLowerInvariant() switch
    {
        "tiny" => SeedScale.Tiny,
        "small" => SeedScale.Small,
        "medium" => SeedScale.Medium,
        "site" => SeedScale.Site,
        _ => throw new UsageException($"Unknown scale '{name}': choose one of {string.Join(", ", Names)}."),
    };
}
