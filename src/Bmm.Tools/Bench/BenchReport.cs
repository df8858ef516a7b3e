namespace Bmm.Bench;

/// <summary>Median, min and max of a series of trials.</summary>
public sealed record Spread(double Median, double Min, double Max)
{
    public static Spread? Of(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) return null;
        var middle = sorted.Length / 2;
        var median = sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
        return new Spread(median, sorted[0], sorted[^1]);
    }
}

/// <summary>One run of one strategy on a fresh copy of the scenario's database.</summary>
public sealed record TrialResult
{
    public required string Strategy { get; init; }
    public int Trial { get; init; }
    /// <summary>The trial ran past its share of the budget and was stopped.</summary>
    public bool Exceeded { get; init; }
    /// <summary>A run failed (the strategy's own error, e.g. a baseline's int4 overflow).</summary>
    public string? Error { get; init; }
    /// <summary>Seconds measured inside the job, around the refresh, summed over the trial's runs.</summary>
    public double Seconds { get; init; }
    /// <summary>
    /// Seconds from starting each <c>bmm</c> process to its exit, summed over the trial's runs:
    /// what a scheduler that launches the job pays, start-up included.
    /// </summary>
    public double ProcessSeconds { get; init; }
    /// <summary>Seconds of each run, in order (the hour scenario's slowdown).</summary>
    public IReadOnlyList<double> RunSeconds { get; init; } = [];
    public int Runs { get; init; }
    public Dictionary<string, double> PhaseSeconds { get; init; } = [];
    public long AffectedModels { get; init; }
    public long Inserted { get; init; }
    public long Updated { get; init; }
    public long Deleted { get; init; }
    public long Unchanged { get; init; }
    public long BlocksHit { get; init; }
    public long BlocksRead { get; init; }
    public long WalBytes { get; init; }
    public long PeakMemoryBytes { get; init; }
    /// <summary>
    /// Measured inside bmm-tools rather than as a process of the product (the full scenario's
    /// clickhouse, which calls the mirror's load and recomputation): no process time or memory.
    /// </summary>
    public bool InProcess { get; init; }
    /// <summary>Rows differing from the oracle after the trial; null when not checked.</summary>
    public long? Drift { get; init; }
    public TableGrowth? Growth { get; init; }
    /// <summary>clickhouse on bmm's own server: the server's CPU seconds (user + system) over the trial's runs; null otherwise.</summary>
    public double? ClickHouseCpuSeconds { get; init; }
    /// <summary>The server's resident memory: its peak over the runs, or after them (<see cref="ClickHouseMemoryIsPeak"/>).</summary>
    public long? ClickHouseMemoryBytes { get; init; }
    /// <summary>True when <see cref="ClickHouseMemoryBytes"/> is the peak (VmHWM, reset before the runs), false when it is the RSS after them.</summary>
    public bool? ClickHouseMemoryIsPeak { get; init; }
}

/// <summary>The table's and its indexes' size before and after a scenario.</summary>
public sealed record TableGrowth(long TableBytesBefore, long TableBytesAfter, long IndexBytesBefore, long IndexBytesAfter, long DeadTuplesAfter, long AutovacuumsDuring);

/// <summary>Latency of one feed query shape, after the refresh.</summary>
public sealed record FeedLatency(string Strategy, string BaseModel, string Sort, string Page, double P50Ms, double P99Ms);

/// <summary>
/// The floor of a scenario: the required row changes written in one statement; <see cref="Models"/>
/// is the number of models with a row once they are written. Measured once per trial, beside the
/// strategies: the median measurement, and <see cref="Trials"/> the spread of all of them.
/// </summary>
public sealed record FloorResult(double Seconds, long Inserted, long Updated, long Deleted, long WalBytes, long Models)
{
    public Spread? Trials { get; init; }

    /// <summary>The median of <paramref name="floors"/> by time, with their spread.</summary>
    public static FloorResult MedianOf(IReadOnlyList<FloorResult> floors) =>
        floors.OrderBy(f => f.Seconds).ElementAt((floors.Count - 1) / 2) with { Trials = Spread.Of(floors.Select(f => f.Seconds)) };
}

/// <summary>One strategy in one scenario, summarized over its trials.</summary>
public sealed record StrategySummary
{
    public required string Strategy { get; init; }
    public Spread? Seconds { get; init; }
    public double? TimesFloor { get; init; }
    public double? RatioToPhase1 { get; init; }
    /// <summary>Bulk and full scenarios: median ÷ backfill's median.</summary>
    public double? RatioToBackfill { get; init; }
    /// <summary>Whole processes, start to exit (<see cref="TrialResult.ProcessSeconds"/>), median over the trials.</summary>
    public double? ProcessSecondsMedian { get; init; }
    public int Trials { get; init; }
    public int Exceeded { get; init; }
    public int Failed { get; init; }
    public double? Runs { get; init; }
    public Dictionary<string, double> PhaseSecondsMedian { get; init; } = [];
    public double? BlocksMedian { get; init; }
    public double? WalBytesMedian { get; init; }
    public double? RowsWrittenMedian { get; init; }
    public double? RowsUnchangedMedian { get; init; }
    public double? PeakMemoryBytesMax { get; init; }
    public long? Drift { get; init; }
    /// <summary>Models recomputed (incremental: models whose rows it wrote), median over the trials.</summary>
    public double? AffectedModelsMedian { get; init; }
    /// <summary>Bulk scenario: models recomputed per model of the site (1 is each once).</summary>
    public double? RecomputedPerModel { get; init; }
    /// <summary>The ClickHouse server's CPU seconds over a trial (<see cref="TrialResult.ClickHouseCpuSeconds"/>), median.</summary>
    public double? ClickHouseCpuSecondsMedian { get; init; }
    /// <summary>The ClickHouse server's resident memory (<see cref="TrialResult.ClickHouseMemoryBytes"/>), the largest.</summary>
    public double? ClickHouseMemoryBytesMax { get; init; }
}

/// <summary>One rate of the follow scenario: how fresh the table stayed under that load.</summary>
public sealed record FollowRate
{
    /// <summary>Rate of the load, as a multiple of the site's.</summary>
    public double Rate { get; init; }
    /// <summary>Whether a transaction with an id stayed open through the window (a long site transaction).</summary>
    public bool HeldTransaction { get; init; }

    /// <summary>How a phase with <see cref="HeldTransaction"/> is named after its rate, in progress messages and the report.</summary>
    public const string HeldTransactionLabel = ", a transaction held open throughout";
    /// <summary>Seconds the load and the probes ran.</summary>
    public double Seconds { get; init; }
    /// <summary>Probes committed and counted: seen, or never seen within the grace period.</summary>
    public int Probes { get; init; }
    /// <summary>Probes not visible by the end of the grace period; not in the percentiles.</summary>
    public int Unseen { get; init; }
    /// <summary>Probes not counted because the load had just moved the probe's version or lowered its pair's sum.</summary>
    public int Voided { get; init; }
    public double? P50Ms { get; init; }
    public double? P99Ms { get; init; }
    public double? MaxMs { get; init; }
    /// <summary>The load actually applied (from the simulator's summaries), per real minute of the window.</summary>
    public double MetricRowsPerMinute { get; init; }
    public double ReviewChangesPerMinute { get; init; }
    public double TransactionsPerMinute { get; init; }
    /// <summary>Seconds the simulator spent writing the load, of <see cref="Seconds"/>: near it means it could not keep up.</summary>
    public double SimulatorSeconds { get; init; }
}

/// <summary>The follow scenario: <c>bmm follow</c> running while the load and a probe writer commit.</summary>
public sealed record FollowReport
{
    /// <summary>Why the scenario, or some of its rates, did not run (the budget); null when all ran.</summary>
    public string? Note { get; init; }
    /// <summary>The scenario's failure (e.g. the follower exited); null when it worked.</summary>
    public string? Error { get; init; }
    public int ProbeVersionId { get; init; }
    public int ProbeModelId { get; init; }
    public string ProbeBaseModel { get; init; } = "";
    /// <summary><c>REFRESH MATERIALIZED VIEW CONCURRENTLY bmm.review_stats</c> on the same data: the cost of each refresh of reviews-mv.</summary>
    public double? ReviewStatsRefreshSeconds { get; init; }
    public IReadOnlyList<FollowRate> Rates { get; init; } = [];
}

public sealed record ScenarioReport
{
    public required BenchScenario Scenario { get; init; }
    public string Window { get; init; } = "";
    public FloorResult? Floor { get; init; }
    public IReadOnlyList<StrategySummary> Strategies { get; init; } = [];
    public IReadOnlyList<TrialResult> Trials { get; init; } = [];
    public IReadOnlyList<FeedLatency> Feeds { get; init; } = [];
    /// <summary>The follow scenario's figures; null for the other scenarios.</summary>
    public FollowReport? Follow { get; init; }
}

public sealed record BenchReport
{
    public required string Command { get; init; }
    public required string Machine { get; init; }
    /// <summary>The bmm executable whose processes were measured.</summary>
    public string Product { get; init; } = "";
    public DateTimeOffset StartedAt { get; init; }
    public double Seconds { get; set; }
    public required string Scale { get; init; }
    public int Seed { get; init; }
    public int Repeat { get; init; }
    public Dictionary<string, string> Settings { get; init; } = [];
    public Dictionary<string, long> DataSize { get; init; } = [];
    /// <summary>The ClickHouse server of the clickhouse strategy, and whether its process is measured; null when none was used.</summary>
    public string? ClickHouse { get; set; }
    public List<ScenarioReport> Scenarios { get; } = [];
}
