using Bmm.Capture;
using Bmm.Configuration;
using Bmm.Serve;
using Bmm.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;
using Prometheus;

namespace Bmm.Follow;

/// <summary><c>bmm follow</c>: the follower plus /metrics and /health, until stopped.</summary>
public static class FollowHost
{
    private static readonly TimeSpan StateCacheAge = TimeSpan.FromSeconds(2);

    /// <summary>Follows until stopped; an empty <see cref="FollowOptions.MetricsUrl"/> serves no endpoint.</summary>
    public static async Task RunAsync(NpgsqlDataSource dataSource, JobOptions job, FollowOptions options, bool rebuild, TimeProvider time, ILogger logger, JobMetrics metrics, CancellationToken stop)
    {
        var follower = new Follower(dataSource, job, options, time, logger, metrics);
        if (string.IsNullOrWhiteSpace(options.MetricsUrl))
        {
            await follower.RunAsync(rebuild, stop);
            return;
        }
        var prefix = MetricsEndpoint.NormalizePrefix(options.MetricsUrl);
        var registry = Metrics.NewCustomRegistry();
        using var adapter = ServeHost.Export(metrics, registry);
        var state = new JobStateCache(dataSource, ChangeLog.IncrementalConsumer, StateCacheAge, time, logger);
        metrics.ObserveState(() => state.Current);
        var health = new FollowHealth(state, follower, TimeSpan.FromSeconds(options.UnhealthyAfterSeconds), time);
        await using var endpoint = MetricsEndpoint.Start(prefix, registry, state, health, logger);
        Log.FollowEndpoint(logger, prefix);
        await follower.RunAsync(rebuild, stop);
    }
}
