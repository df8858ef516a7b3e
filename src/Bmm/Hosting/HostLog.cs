using Microsoft.Extensions.Logging;

namespace Bmm.Hosting;

/// <summary>The log messages of the product: its private server and its hosts, with event ids numbered by area after the library's.</summary>
internal static partial class HostLog
{
    // 7xxx: the embedded server (category Bmm.Database)
    [LoggerMessage(7000, LogLevel.Information, "Reusing the embedded PostgreSQL at 127.0.0.1:{Port} ({DataDirectory})")]
    public static partial void EmbeddedReused(ILogger logger, int port, string dataDirectory);

    [LoggerMessage(7001, LogLevel.Information, "Started the embedded PostgreSQL at 127.0.0.1:{Port} ({DataDirectory})")]
    public static partial void EmbeddedStarted(ILogger logger, int port, string dataDirectory);

    [LoggerMessage(7002, LogLevel.Information, "Created a new embedded PostgreSQL cluster in {DataDirectory}")]
    public static partial void EmbeddedInitialized(ILogger logger, string dataDirectory);

    [LoggerMessage(7003, LogLevel.Warning, "Removed a stale embedded PostgreSQL lock file (process {Pid} is gone)")]
    public static partial void EmbeddedStaleRemoved(ILogger logger, int pid);

    [LoggerMessage(7010, LogLevel.Information, "Reusing the embedded ClickHouse at {Url} ({Folder})")]
    public static partial void ClickHouseReused(ILogger logger, string url, string folder);

    [LoggerMessage(7011, LogLevel.Information, "Started the embedded ClickHouse at {Url} ({Folder})")]
    public static partial void ClickHouseStarted(ILogger logger, string url, string folder);

    [LoggerMessage(7012, LogLevel.Information, "Stopped the embedded ClickHouse in {Folder} (process {Pid})")]
    public static partial void ClickHouseStopped(ILogger logger, string folder, int pid);

    // 8xxx: the scheduler of serve (category Bmm.Serve)
    [LoggerMessage(8000, LogLevel.Information, "Serving on schedule '{Schedule}'; metrics at {MetricsUrl}")]
    public static partial void Serving(ILogger logger, string schedule, string metricsUrl);

    [LoggerMessage(8001, LogLevel.Information, "Next run at {NextRun:O}")]
    public static partial void NextRun(ILogger logger, DateTimeOffset nextRun);

    [LoggerMessage(8002, LogLevel.Error, "Scheduled run failed; the scheduler goes on")]
    public static partial void ScheduledRunFailed(ILogger logger, Exception exception);

    [LoggerMessage(8003, LogLevel.Warning, "Skipped the tick at {Tick:O}: the previous run is still going")]
    public static partial void TickSkippedBusy(ILogger logger, DateTimeOffset tick);

    [LoggerMessage(8004, LogLevel.Warning, "{Failures} consecutive failed runs: no run starts before {NotBefore:O}")]
    public static partial void BackingOff(ILogger logger, int failures, DateTimeOffset notBefore);

    [LoggerMessage(8005, LogLevel.Information, "Skipped the tick at {Tick:O}: backing off after failed runs until {NotBefore:O}")]
    public static partial void TickSkippedBackoff(ILogger logger, DateTimeOffset tick, DateTimeOffset notBefore);

    [LoggerMessage(8006, LogLevel.Error, "The scheduler loop failed; it goes on in {DelayMs} ms")]
    public static partial void SchedulerLoopFailed(ILogger logger, Exception exception, long delayMs);

    [LoggerMessage(8007, LogLevel.Information, "Stopping: waiting for no new run")]
    public static partial void Stopping(ILogger logger);

    [LoggerMessage(8008, LogLevel.Information, "Stopped")]
    public static partial void Stopped(ILogger logger);

    // 8xxx: the endpoint of serve and follow (categories Bmm.Serve, Bmm.Follow, Bmm.Health)
    [LoggerMessage(8100, LogLevel.Information, "Metrics and health of the follower at {MetricsUrl}")]
    public static partial void FollowEndpoint(ILogger logger, string metricsUrl);

    [LoggerMessage(8101, LogLevel.Warning, "Reading the job state for /metrics and /health failed: {Reason}")]
    public static partial void StateReadFailed(ILogger logger, string reason);

    [LoggerMessage(8102, LogLevel.Warning, "Unhealthy: {Reason}")]
    public static partial void Unhealthy(ILogger logger, string reason);

    [LoggerMessage(8103, LogLevel.Information, "Healthy")]
    public static partial void Healthy(ILogger logger);
}
