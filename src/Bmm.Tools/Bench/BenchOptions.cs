using Bmm.Configuration;
using Bmm.Seeding;

namespace Bmm.Bench;

/// <summary>The benchmark's scenarios.</summary>
public enum BenchScenario
{
    /// <summary>One 5-minute window at the site's rate.</summary>
    Steady,
    /// <summary>A 24-hour backlog (the job was down for a day), run until drained.</summary>
    Catchup,
    /// <summary>Nothing changed since the last run.</summary>
    Quiet,
    /// <summary>Twelve 5-minute windows on one database, each followed by a run.</summary>
    Hour,
    /// <summary>Freshness from commit to visible row with <c>bmm follow</c> running under load; no per-strategy trials.</summary>
    Follow,
    /// <summary>
    /// The whole site loaded into an empty one in a transaction per table, as its writers would
    /// (capture and the site's triggers on), then drained; <c>backfill</c> is measured beside the strategies.
    /// </summary>
    Bulk,
    /// <summary>
    /// Every pair recomputed after one 5-minute window: <c>backfill</c> beside the clickhouse
    /// strategy's full recomputation (its mirror loaded, then every pair computed from it).
    /// </summary>
    Full,
}

/// <summary>What <c>bmm bench</c> measures.</summary>
public sealed record BenchOptions
{
    public SeedScale Scale { get; init; } = SeedScale.Small;
    public int Seed { get; init; } = 42;
    public IReadOnlyList<BenchScenario> Scenarios { get; init; } = [BenchScenario.Steady, BenchScenario.Catchup, BenchScenario.Quiet, BenchScenario.Hour, BenchScenario.Follow];
    public IReadOnlyList<string> Strategies { get; init; } = ["sequential", "phase1", "setbased", "reviews-mv", "incremental"];
    public int Repeat { get; init; } = 5;
    /// <summary>Bound on the whole run; each trial gets an equal share and is stopped past it.</summary>
    public TimeSpan Budget { get; init; } = TimeSpan.FromMinutes(60);
    /// <summary>Rate multiplier of the simulated windows (1 = the site's rate).</summary>
    public double Rate { get; init; } = 1;
    /// <summary>Minutes of simulated backlog in the catch-up scenario.</summary>
    public int CatchupMinutes { get; init; } = 24 * 60;
    /// <summary>How long the follow scenario runs its load and probes at each rate.</summary>
    public TimeSpan FollowWindow { get; init; } = TimeSpan.FromSeconds(180);
    /// <summary>Timed reads per feed query.</summary>
    public int FeedReads { get; init; } = 30;
    /// <summary>The bmm executable whose runs are measured; null for the one beside this toolbox.</summary>
    public string? Product { get; init; }
    public string? JsonPath { get; init; }
    public string? MarkdownPath { get; init; }
    public string? PngPath { get; init; }

    public static IReadOnlyList<BenchScenario> ParseScenarios(string list) =>
        list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(name => Enum.TryParse<BenchScenario>(name, ignoreCase: true, out var scenario)
                ? scenario
                : throw new UsageException($"Unknown scenario '{name}': choose among steady, catchup, quiet, hour, follow, bulk, full."))
            .Distinct().ToList();
}
