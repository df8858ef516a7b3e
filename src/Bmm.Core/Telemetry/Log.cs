using Microsoft.Extensions.Logging;

namespace Bmm.Telemetry;

/// <summary>Every log message of the job, with event ids numbered by area.</summary>
internal static partial class Log
{
    // 1xxx: embedded server
    [LoggerMessage(1000, LogLevel.Information, "Reusing the embedded PostgreSQL at 127.0.0.1:{Port} ({DataDirectory})")]
    public static partial void EmbeddedReused(ILogger logger, int port, string dataDirectory);

    [LoggerMessage(1001, LogLevel.Information, "Started the embedded PostgreSQL at 127.0.0.1:{Port} ({DataDirectory})")]
    public static partial void EmbeddedStarted(ILogger logger, int port, string dataDirectory);

    [LoggerMessage(1002, LogLevel.Information, "Created a new embedded PostgreSQL cluster in {DataDirectory}")]
    public static partial void EmbeddedInitialized(ILogger logger, string dataDirectory);

    [LoggerMessage(1003, LogLevel.Warning, "Removed a stale embedded PostgreSQL lock file (process {Pid} is gone)")]
    public static partial void EmbeddedStaleRemoved(ILogger logger, int pid);

    // 2xxx: schema
    [LoggerMessage(2000, LogLevel.Information, "Applied migration {Script}")]
    public static partial void MigrationApplied(ILogger logger, string script);

    // 3xxx: refresh runs
    [LoggerMessage(3000, LogLevel.Information, "Run {RunId} ({Strategy}) finished: {Affected} models, {Batches} batches, {Inserted} inserted, {Updated} updated, {Deleted} deleted, {Unchanged} unchanged in {Seconds:F3}s")]
    public static partial void RunFinished(ILogger logger, long runId, string strategy, long affected, int batches, long inserted, long updated, long deleted, long unchanged, double seconds);

    [LoggerMessage(3001, LogLevel.Information, "Skipped a run: another runner holds the lock")]
    public static partial void RunSkippedLocked(ILogger logger);

    [LoggerMessage(3002, LogLevel.Information, "Skipped a run: the job is paused")]
    public static partial void RunSkippedPaused(ILogger logger);

    [LoggerMessage(3003, LogLevel.Error, "Run {RunId} ({Strategy}) failed")]
    public static partial void RunFailed(ILogger logger, Exception exception, long runId, string strategy);

    [LoggerMessage(3004, LogLevel.Warning, "Clamped ({ModelId}, {BaseModel}) to int4: downloads {Downloads}, images {Images}")]
    public static partial void Clamped(ILogger logger, int modelId, string baseModel, long downloads, long images);

    [LoggerMessage(3005, LogLevel.Warning, "Transaction rolled back ({SqlState}); retry {Attempt} of {MaxAttempts} in {DelayMs} ms")]
    public static partial void Retrying(ILogger logger, string sqlState, int attempt, int maxAttempts, int delayMs);

    [LoggerMessage(3006, LogLevel.Information, "Run budget reached after {Models} models; the rest is carried to the next run")]
    public static partial void BudgetReached(ILogger logger, long models);

    [LoggerMessage(3007, LogLevel.Information, "Change log: {Action}")]
    public static partial void ChangeLogMaintained(ILogger logger, string action);

    [LoggerMessage(3016, LogLevel.Warning, "Change-log consumer '{Consumer}' has not moved for {Hours:F0} hours and holds {Rows} rows back from cleanup; if that strategy no longer runs, remove it with `bmm drop-consumer {Consumer}`")]
    public static partial void StaleConsumer(ILogger logger, string consumer, double hours, long rows);

    [LoggerMessage(3008, LogLevel.Information, "Incremental state built from a snapshot; table brought to it: {Inserted} inserted, {Updated} updated, {Deleted} deleted")]
    public static partial void IncrementalBootstrapped(ILogger logger, long inserted, long updated, long deleted);

    [LoggerMessage(3018, LogLevel.Warning, "The incremental state was discarded: {Writer} writes the table, whose counters are part of that state; the next incremental run or `bmm follow` rebuilds it from a snapshot")]
    public static partial void IncrementalStateForgotten(ILogger logger, string writer);

    [LoggerMessage(3009, LogLevel.Warning, "Incremental state went below zero in {Count} places: the state had drifted; reconciliation repairs it")]
    public static partial void IncrementalAnomalies(ILogger logger, long count);

    [LoggerMessage(3010, LogLevel.Information, "Following the change log (woken by NOTIFY, polling every {PollSeconds}s, reconciling a slice every {ReconcileSeconds}s)")]
    public static partial void Following(ILogger logger, double pollSeconds, double reconcileSeconds);

    [LoggerMessage(3011, LogLevel.Debug, "Applied {Changes} changes in {Batches} transactions: {Inserted} inserted, {Updated} updated, {Deleted} deleted in {Seconds:F3}s")]
    public static partial void FollowApplied(ILogger logger, long changes, int batches, long inserted, long updated, long deleted, double seconds);

    [LoggerMessage(3017, LogLevel.Information, "Metrics and health of the follower at {MetricsUrl}")]
    public static partial void FollowEndpoint(ILogger logger, string metricsUrl);

    [LoggerMessage(3012, LogLevel.Information, "Another runner holds the lock; following starts when it is released")]
    public static partial void FollowWaitingForLock(ILogger logger);

    [LoggerMessage(3013, LogLevel.Error, "Following failed ({Failures} in a row); reconnecting in {DelaySeconds}s")]
    public static partial void FollowFailed(ILogger logger, Exception exception, int failures, double delaySeconds);

    [LoggerMessage(3014, LogLevel.Information, "Refreshed bmm.review_stats in {Seconds:F3}s; recomputing the {Models} models whose thumbs-up counts differ from it")]
    public static partial void ReviewStatsRefreshed(ILogger logger, double seconds, int models);

    [LoggerMessage(3015, LogLevel.Debug, "bmm.review_stats was refreshed at {RefreshedAt:O}; the next refresh is due after {IntervalMinutes} minutes")]
    public static partial void ReviewStatsNotDue(ILogger logger, DateTimeOffset refreshedAt, int intervalMinutes);

    // 4xxx: verify and repair
    [LoggerMessage(4000, LogLevel.Warning, "Drift found: {Missing} missing, {Extra} extra, {Wrong} wrong rows")]
    public static partial void DriftFound(ILogger logger, long missing, long extra, long wrong);

    [LoggerMessage(4001, LogLevel.Information, "Repaired {Rows} rows")]
    public static partial void Repaired(ILogger logger, long rows);

    [LoggerMessage(4002, LogLevel.Warning, "Reconciliation ({Consumer}) found {Models} drifted models in ids [{Low}, {High}); repairing. Samples: {Samples}")]
    public static partial void ReconcileDrift(ILogger logger, string consumer, int models, int low, int high, string samples);

    [LoggerMessage(4003, LogLevel.Error, "Reconciliation failed; it is tried again at the next slice")]
    public static partial void ReconcileFailed(ILogger logger, Exception exception);

    // 5xxx: the scheduler
    [LoggerMessage(5000, LogLevel.Information, "Serving on schedule '{Schedule}'; metrics at {MetricsUrl}")]
    public static partial void Serving(ILogger logger, string schedule, string metricsUrl);

    [LoggerMessage(5001, LogLevel.Information, "Next run at {NextRun:O}")]
    public static partial void NextRun(ILogger logger, DateTimeOffset nextRun);

    [LoggerMessage(5002, LogLevel.Error, "Scheduled run failed; the scheduler goes on")]
    public static partial void ScheduledRunFailed(ILogger logger, Exception exception);

    [LoggerMessage(5003, LogLevel.Warning, "Skipped the tick at {Tick:O}: the previous run is still going")]
    public static partial void TickSkippedBusy(ILogger logger, DateTimeOffset tick);

    [LoggerMessage(5004, LogLevel.Information, "Stopping: waiting for no new run")]
    public static partial void Stopping(ILogger logger);

    [LoggerMessage(5005, LogLevel.Warning, "{Failures} consecutive failed runs: no run starts before {NotBefore:O}")]
    public static partial void BackingOff(ILogger logger, int failures, DateTimeOffset notBefore);

    [LoggerMessage(5006, LogLevel.Information, "Skipped the tick at {Tick:O}: backing off after failed runs until {NotBefore:O}")]
    public static partial void TickSkippedBackoff(ILogger logger, DateTimeOffset tick, DateTimeOffset notBefore);

    [LoggerMessage(5007, LogLevel.Error, "The scheduler loop failed; it goes on in {DelayMs} ms")]
    public static partial void SchedulerLoopFailed(ILogger logger, Exception exception, long delayMs);

    [LoggerMessage(5008, LogLevel.Warning, "The metrics endpoint failed to accept a request; it goes on")]
    public static partial void EndpointAcceptFailed(ILogger logger, Exception exception);

    [LoggerMessage(5009, LogLevel.Warning, "A request to {Path} failed")]
    public static partial void EndpointRequestFailed(ILogger logger, Exception exception, string path);

    [LoggerMessage(5010, LogLevel.Warning, "Reading the job state for /metrics and /health failed: {Reason}")]
    public static partial void StateReadFailed(ILogger logger, string reason);

    [LoggerMessage(5011, LogLevel.Warning, "Unhealthy: {Reason}")]
    public static partial void Unhealthy(ILogger logger, string reason);

    [LoggerMessage(5012, LogLevel.Information, "Healthy")]
    public static partial void Healthy(ILogger logger);

    [LoggerMessage(5013, LogLevel.Information, "Stopped")]
    public static partial void Stopped(ILogger logger);

    // 6xxx: seeding, simulating, the demo
    [LoggerMessage(6000, LogLevel.Information, "Seeding a {Scale} synthetic site with seed {Seed}: {Models} models")]
    public static partial void SeedStarted(ILogger logger, string scale, int seed, long models);

    [LoggerMessage(6001, LogLevel.Debug, "Loaded {Rows} rows into \"{Table}\" in {Seconds:F1}s")]
    public static partial void SeedTableLoaded(ILogger logger, string table, long rows, double seconds);

    [LoggerMessage(6002, LogLevel.Information, "Seeded {Models} models, {Versions} versions, {Reviews} reviews and {AggregateRows} aggregate rows in {Seconds:F1}s")]
    public static partial void SeedFinished(ILogger logger, long models, long versions, long reviews, long aggregateRows, double seconds);

    [LoggerMessage(6003, LogLevel.Information, "Simulating {Minutes} minutes of site changes at {Rate}x the site's rate from {Start:O}")]
    public static partial void SimulationStarted(ILogger logger, int minutes, double rate, DateTime start);

    [LoggerMessage(6004, LogLevel.Debug, "Simulated minute {Minute} ({At:O}): {MetricRows} metric rows, {ReviewChanges} review changes, {ModelEdits} model edits")]
    public static partial void SimulatedMinute(ILogger logger, int minute, DateTime at, long metricRows, long reviewChanges, long modelEdits);

    [LoggerMessage(6005, LogLevel.Information, "Simulated {Minutes} minutes in {Seconds:F1}s: {Transactions} transactions over {Models} models")]
    public static partial void SimulationFinished(ILogger logger, int minutes, double seconds, long transactions, long models);

    [LoggerMessage(6006, LogLevel.Information, "Recreated the embedded database \"{Database}\" for the demo")]
    public static partial void DemoDatabaseRecreated(ILogger logger, string database);

    // 7xxx: backfill
    [LoggerMessage(7000, LogLevel.Information, "Backfill: {Models} models in batches of {BatchModels}")]
    public static partial void BackfillStarted(ILogger logger, long models, int batchModels);

    [LoggerMessage(7001, LogLevel.Debug, "Backfill batch {Batch} (models {FirstId}..{LastId}): {Inserted} inserted, {Updated} updated, {Deleted} deleted, {Unchanged} unchanged in {Seconds:F3}s")]
    public static partial void BackfillBatch(ILogger logger, int batch, int firstId, int lastId, long inserted, long updated, long deleted, long unchanged, double seconds);

    [LoggerMessage(7002, LogLevel.Information, "Backfill removed the rows of {Models} models that no longer exist")]
    public static partial void BackfillOrphansRemoved(ILogger logger, long models);

    [LoggerMessage(7003, LogLevel.Information, "Backfill finished: {Models} models in {Batches} batches, {Inserted} inserted, {Updated} updated, {Deleted} deleted, {Unchanged} unchanged in {Seconds:F1}s")]
    public static partial void BackfillFinished(ILogger logger, long models, int batches, long inserted, long updated, long deleted, long unchanged, double seconds);
}
