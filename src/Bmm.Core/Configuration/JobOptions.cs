namespace Bmm.Configuration;

/// <summary>How a refresh run behaves. Section <c>Job</c>; environment <c>BMM_Job__*</c>.</summary>
public sealed class JobOptions : ICheckedOptions
{
    /// <summary>Strategy used by <c>run</c> and <c>serve</c> when no --strategy is given.</summary>
    public string Strategy { get; set; } = "setbased";

    /// <summary>Most models one run recomputes; the rest is carried to the next run.</summary>
    public int MaxModelsPerRun { get; set; } = 200_000;

    /// <summary>Most seconds one run works before it stops at the next batch boundary.</summary>
    public int MaxSecondsPerRun { get; set; } = 240;

    /// <summary>Models recomputed per setbased transaction (and queued ids taken per transaction); a sweep records its progress at each.</summary>
    public int BatchSize { get; set; } = 5_000;

    /// <summary>
    /// Change-log rows the incremental strategy applies per transaction; a backlog drains in steps
    /// of this size. A pair changed throughout a backlog is written once per step, and a version
    /// moved in a step cut short of the horizon reads the deltas logged past it, so the default
    /// takes a day of the site's churn (about 3 million rows) in one step of a few seconds.
    /// </summary>
    public int IncrementalBatchRows { get; set; } = 5_000_000;

    /// <summary>
    /// A backlog of more change-log rows than this (more than a step, see IncrementalBatchRows) is
    /// not applied by the incremental strategy: its state is rebuilt from a snapshot, as on first
    /// use, which costs about what reading the site once does (a bulk load of the whole site, 8.9
    /// million rows, took 187 s to apply). 0: never. The default is about two days of the site's churn.
    /// </summary>
    public int IncrementalRebuildRows { get; set; } = 5_000_000;

    /// <summary>
    /// Continuous reconciliation (serve after each run, follow every ReconcileSeconds) checks a slice
    /// of the table sized so that every model is checked once per this many hours.
    /// </summary>
    public double ReconcilePassHours { get; set; } = 24;

    /// <summary>How long a statement waits for a row or table lock before the transaction rolls back.</summary>
    public int LockTimeoutSeconds { get; set; } = 10;

    /// <summary>Longest a single statement may run.</summary>
    public int StatementTimeoutSeconds { get; set; } = 300;

    /// <summary>Attempts for a transaction that rolled back (deadlock, lock timeout, serialization).</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>
    /// Minutes after which a reviews-mv run refreshes the materialized view of review stats;
    /// between refreshes, that strategy's thumbs-up counts are as old as the view.
    /// </summary>
    public int ReviewsMvRefreshMinutes { get; set; } = 30;

    /// <summary>The longest lock_timeout and statement_timeout PostgreSQL accepts (2^31 - 1 milliseconds).</summary>
    public const int MaxTimeoutSeconds = 2_147_483;

    /// <inheritdoc />
    public string? Problem()
    {
        if (MaxModelsPerRun < 1) return "Job:MaxModelsPerRun must be at least 1.";
        if (MaxSecondsPerRun < 1) return "Job:MaxSecondsPerRun must be at least 1.";
        if (BatchSize < 1) return "Job:BatchSize must be at least 1.";
        if (!Checks.Positive(ReconcilePassHours)) return "Job:ReconcilePassHours must be a positive number of hours.";
        if (IncrementalBatchRows < 1) return "Job:IncrementalBatchRows must be at least 1.";
        if (IncrementalRebuildRows < 0) return "Job:IncrementalRebuildRows must be 0 (never) or more.";
        if (LockTimeoutSeconds < 1 || StatementTimeoutSeconds < 1) return "Job timeouts must be at least 1 second.";
        if (LockTimeoutSeconds > MaxTimeoutSeconds || StatementTimeoutSeconds > MaxTimeoutSeconds)
            return $"Job timeouts must be at most {MaxTimeoutSeconds} seconds (PostgreSQL's limit).";
        if (MaxAttempts < 1) return "Job:MaxAttempts must be at least 1.";
        if (ReviewsMvRefreshMinutes < 1) return "Job:ReviewsMvRefreshMinutes must be at least 1.";
        return null;
    }
}
