namespace Bmm.Seeding;

/// <summary>One generated model with its versions; <see cref="ReviewSeed"/> drives its reviews.</summary>
internal sealed record SyntheticModel(
    int Id, string Name, int UserId, string Type, string Status, string Availability, string? Mode, int NsfwLevel,
    bool Poi, bool Minor, DateTime? LastVersionAt, DateTime UpdatedAt, int ReviewCount, int ReviewSeed,
    IReadOnlyList<SyntheticVersion> Versions);

/// <summary>One generated version and its metric row (null when it has none, as a version may).</summary>
internal sealed record SyntheticVersion(
    int Id, string Name, string BaseModel, string? BaseModelType, string Status, string Availability, int NsfwLevel,
    DateTime? PublishedAt, DateTime CreatedAt, DateTime UpdatedAt, SyntheticMetric? Metric);

internal sealed record SyntheticMetric(
    int DownloadCount, int ImageCount, int ThumbsUpCount, int ThumbsDownCount, int CommentCount, int CollectedCount,
    int TippedCount, int TippedAmountCount, int GenerationCount, int EarnedAmount, DateTime UpdatedAt);

internal readonly record struct SyntheticReview(
    int VersionId, int UserId, int Rating, bool Recommended, bool Exclude, bool TosViolation, bool Nsfw, string? Details,
    DateTime CreatedAt, DateTime UpdatedAt);
