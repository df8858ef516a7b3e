namespace Bmm.Seeding;

/// <summary>What <c>bmm seed</c> loaded, and how long each step took.</summary>
public sealed record SeedReport(
    SeedScale Scale, int Seed, long Models, long Versions, long VersionMetrics, long Reviews, long AggregateRows,
    int BaseModels, int Users, IReadOnlyDictionary<string, double> StepSeconds, double TotalSeconds, DateTimeOffset Watermark)
{
    /// <summary>Loaded with capture on and the table left for the job (<see cref="SeedOptions.Captured"/>).</summary>
    public bool Captured { get; init; }
}
