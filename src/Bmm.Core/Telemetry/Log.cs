using Microsoft.Extensions.Logging;

namespace Bmm.Telemetry;

/// <summary>The log messages of the job's library, with event ids numbered by area (the product uses 7xxx-8xxx, the toolbox 9xxx).</summary>
internal static partial class Log
{
    // 1xxx: refresh runs (category Bmm.Refresh)
    [LoggerMessage(1000, LogLevel.Information, "Run {RunId} ({Strategy}) finished: {Affected} models, {Batches} batches, {Inserted} inserted, {Updated} updated, {Deleted} deleted, {Unchanged} unchanged in {Seconds:F3}s")]
    public static partial void RunFinished(ILogger logger, long runId, string strategy, long affected, int batches, long inserted, long updated, long deleted, long unchanged, double seconds);

    [LoggerMessage(1001, LogLevel.Information, "Skipped a run: another runner holds the lock")]
    public static partial void RunSkippedLocked(ILogger logger);

    [LoggerMessage(1002, LogLevel.Information, "Skipped a run: the job is paused")]
    public static partial void RunSkippedPaused(ILogger logger);

    [LoggerMessage(1003, LogLevel.Error, "Run {RunId} ({Strategy}) failed")]
    public static partial void RunFailed(ILogger logger, Exception exception, long runId, string strategy);

    [LoggerMessage(1004, LogLevel.Warning, "Clamped ({ModelId}, {BaseModel}) to int4: downloads {Downloads}, images {Images}")]
    public static partial void Clamped(ILogger logger, int modelId, string baseModel, long downloads, long images);

    [LoggerMessage(1005, LogLevel.Warning, "Transaction rolled back ({SqlState}); retry {Attempt} of {MaxAttempts} in {DelayMs} ms")]
    public static partial void Retrying(ILogger logger, string sqlState, int attempt, int maxAttempts, long delayMs);

    [LoggerMessage(1010, LogLevel.Information, "Consumer '{Consumer}': the backlog holds at least as many review, version and model changes as the site has models; this sweep recomputes every model instead of reading which ones changed")]
    public static partial void SweepingEveryModel(ILogger logger, string consumer);

    [LoggerMessage(1006, LogLevel.Information, "Run budget reached after {Models} models; the rest is carried to the next run")]
    public static partial void BudgetReached(ILogger logger, long models);

    [LoggerMessage(1007, LogLevel.Warning, "The state of consumer '{Consumer}' was discarded: {Writer} writes the table, whose counters are part of that state; its next run (or `bmm follow`) rebuilds it from a snapshot")]
    public static partial void StateForgotten(ILogger logger, string consumer, string writer);

    [LoggerMessage(1008, LogLevel.Warning, "Run {RunId} could not be recorded in bmm.run_history (its row stays 'running'): {Reason}")]
    public static partial void RunNotRecorded(ILogger logger, long runId, string reason);

    [LoggerMessage(1009, LogLevel.Warning, "Run {RunId} ({Strategy}, started {StartedAt:u}) never finished: its process stopped without recording an end; marked abandoned")]
    public static partial void RunAbandoned(ILogger logger, long runId, string strategy, DateTime startedAt);

    // 2xxx: the change log (category Bmm.Refresh)
    [LoggerMessage(2000, LogLevel.Information, "Change log: {Action}")]
    public static partial void ChangeLogMaintained(ILogger logger, string action);

    [LoggerMessage(2001, LogLevel.Warning, "Change-log consumer '{Consumer}' has not moved for {Hours:F0} hours and holds {Rows} rows back from cleanup; if that strategy no longer runs, remove it with `bmm drop-consumer {Consumer}`")]
    public static partial void StaleConsumer(ILogger logger, string consumer, double hours, long rows);

    // 3xxx: strategies (category Bmm.Refresh)
    [LoggerMessage(3000, LogLevel.Information, "Incremental state built from a snapshot; table brought to it: {Inserted} inserted, {Updated} updated, {Deleted} deleted")]
    public static partial void IncrementalBootstrapped(ILogger logger, long inserted, long updated, long deleted);

    [LoggerMessage(3001, LogLevel.Warning, "Incremental state went below zero in {Count} places: the state had drifted; reconciliation repairs it")]
    public static partial void IncrementalAnomalies(ILogger logger, long count);

    [LoggerMessage(3004, LogLevel.Information, "More than {Rows} change-log rows wait for the incremental strategy (Job:IncrementalRebuildRows): rebuilding its state from a snapshot instead of applying them")]
    public static partial void IncrementalRebuilding(ILogger logger, int rows);

    [LoggerMessage(3002, LogLevel.Information, "Refreshed bmm.review_stats in {Seconds:F3}s; recomputing the {Models} models whose thumbs-up counts differ from it")]
    public static partial void ReviewStatsRefreshed(ILogger logger, double seconds, int models);

    [LoggerMessage(3003, LogLevel.Debug, "bmm.review_stats was refreshed at {RefreshedAt:O}; the next refresh is due after {IntervalMinutes} minutes")]
    public static partial void ReviewStatsNotDue(ILogger logger, DateTimeOffset refreshedAt, int intervalMinutes);

    // 4xxx: verify and reconciliation (categories Bmm.Verify, Bmm.Refresh, Bmm.Follow)
    [LoggerMessage(4000, LogLevel.Warning, "Drift found: {Missing} missing, {Extra} extra, {Wrong} wrong rows")]
    public static partial void DriftFound(ILogger logger, long missing, long extra, long wrong);

    [LoggerMessage(4001, LogLevel.Information, "Repaired {Rows} rows")]
    public static partial void Repaired(ILogger logger, long rows);

    [LoggerMessage(4002, LogLevel.Warning, "Reconciliation ({Consumer}) found {Models} drifted models in ids [{Low}, {High}); repairing. Samples: {Samples}")]
    public static partial void ReconcileDrift(ILogger logger, string consumer, int models, int low, int high, string samples);

    [LoggerMessage(4003, LogLevel.Error, "Reconciliation failed; it is tried again at the next slice")]
    public static partial void ReconcileFailed(ILogger logger, Exception exception);

    [LoggerMessage(4004, LogLevel.Warning, "{Models} drifted models queued for repair: {Holder} holds the runner lock and applies the queue first (or the next run does)")]
    public static partial void RepairQueued(ILogger logger, int models, string holder);

    // 5xxx: the follower (category Bmm.Follow)
    [LoggerMessage(5000, LogLevel.Information, "Following the change log (woken by NOTIFY, polling every {PollSeconds}s, reconciling a slice every {ReconcileSeconds}s)")]
    public static partial void Following(ILogger logger, double pollSeconds, double reconcileSeconds);

    [LoggerMessage(5001, LogLevel.Debug, "Applied {Changes} changes in {Batches} transactions: {Inserted} inserted, {Updated} updated, {Deleted} deleted in {Seconds:F3}s")]
    public static partial void FollowApplied(ILogger logger, long changes, int batches, long inserted, long updated, long deleted, double seconds);

    [LoggerMessage(5002, LogLevel.Information, "{Holder} holds the runner lock; following starts when it is released")]
    public static partial void FollowWaitingForLock(ILogger logger, string holder);

    [LoggerMessage(5003, LogLevel.Error, "Following failed ({Failures} in a row); reconnecting in {DelaySeconds}s")]
    public static partial void FollowFailed(ILogger logger, Exception exception, int failures, double delaySeconds);

    [LoggerMessage(5004, LogLevel.Information, "Stopped")]
    public static partial void Stopped(ILogger logger);

    // 6xxx: backfill (category Bmm.Backfill)
    [LoggerMessage(6000, LogLevel.Information, "Backfill: {Models} models in batches of {BatchModels}")]
    public static partial void BackfillStarted(ILogger logger, long models, int batchModels);

    [LoggerMessage(6001, LogLevel.Debug, "Backfill batch {Batch} (models {FirstId}..{LastId}): {Inserted} inserted, {Updated} updated, {Deleted} deleted, {Unchanged} unchanged in {Seconds:F3}s")]
    public static partial void BackfillBatch(ILogger logger, int batch, int firstId, int lastId, long inserted, long updated, long deleted, long unchanged, double seconds);

    [LoggerMessage(6002, LogLevel.Information, "Backfill removed the rows of {Models} models that no longer exist")]
    public static partial void BackfillOrphansRemoved(ILogger logger, long models);

    [LoggerMessage(6003, LogLevel.Information, "Backfill finished: {Models} models in {Batches} batches, {Inserted} inserted, {Updated} updated, {Deleted} deleted, {Unchanged} unchanged in {Seconds:F1}s")]
    public static partial void BackfillFinished(ILogger logger, long models, int batches, long inserted, long updated, long deleted, long unchanged, double seconds);

    // 7xxx: the ClickHouse mirror (category Bmm.Refresh, or Bmm.ClickHouse for its commands)
    [LoggerMessage(7000, LogLevel.Information, "ClickHouse load: {Rows} {Table} copied")]
    public static partial void ClickHouseLoadProgress(ILogger logger, string table, long rows);

    [LoggerMessage(7001, LogLevel.Warning, "ClickHouse holds no complete mirror of this database at {Endpoint}: loading it from one snapshot")]
    public static partial void ClickHouseMirrorMissing(ILogger logger, string endpoint);

    [LoggerMessage(7002, LogLevel.Information, "ClickHouse loaded: {Versions} versions and {Reviews} reviews in {Seconds:F1}s; the log is replayed from xid {StartXid}")]
    public static partial void ClickHouseLoaded(ILogger logger, long versions, long reviews, long startXid, double seconds);
}
