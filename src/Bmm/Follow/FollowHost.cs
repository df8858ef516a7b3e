using Bmm.Capture;
using Bmm.Configuration;
using Bmm.Hosting;
using Bmm.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Bmm.Follow;

/// <summary><c>bmm follow</c>: the follower, with /metrics and /health unless Follow:MetricsUrl is empty, under the Generic Host.</summary>
public static class FollowHost
{
    private static readonly TimeSpan StateCacheAge = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Builds the host from <paramref name="configuration"/> (sections Job and Follow); with
    /// <paramref name="rebuild"/> the incremental state is rebuilt from a snapshot first. Bad
    /// options are usage errors here, before anything starts.
    /// </summary>
    public static IHost Build(IConfiguration configuration, JobHostParts parts, bool rebuild)
    {
        var url = configuration["Follow:MetricsUrl"] ?? new FollowOptions().MetricsUrl;
        var endpoint = string.IsNullOrWhiteSpace(url) ? null : MetricsAddress.TryParse(url);
        return JobHost.Build<FollowService, FollowHealthCheck>(configuration, parts, endpoint, services =>
        {
            JobHost.AddChecked(services, services.AddOptions<FollowOptions>().Bind(configuration.GetSection("Follow"), JobHost.RefuseUnknownSettings));
            services.AddSingleton(new FollowService.Rebuild(rebuild));
            services.AddSingleton(sp => new Follower(
                sp.GetRequiredService<NpgsqlDataSource>(), sp.GetRequiredService<IOptions<JobOptions>>().Value, sp.GetRequiredService<IOptions<FollowOptions>>().Value,
                sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger(LogCategories.Follow), sp.GetRequiredService<JobMetrics>()));
            services.AddSingleton(sp => new JobStateCache(
                sp.GetRequiredService<NpgsqlDataSource>(), ChangeLog.IncrementalConsumer, StateCacheAge,
                sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger(LogCategories.Follow)));
        });
    }

    /// <summary>Follows until <paramref name="stop"/> is cancelled; a transaction in flight rolls back.</summary>
    public static Task RunAsync(IHost host, CancellationToken stop) =>
        JobHost.RunAsync(host, host.Services.GetRequiredService<IOptions<FollowOptions>>().Value.MetricsUrl, stop);
}

/// <summary>The follower as a hosted service.</summary>
internal sealed class FollowService(Follower follower, FollowService.Rebuild rebuild, IOptions<FollowOptions> options, ILoggerFactory loggers) : BackgroundService
{
    /// <summary>Whether to rebuild the incremental state from a snapshot before following.</summary>
    internal sealed record Rebuild(bool Requested);

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!string.IsNullOrWhiteSpace(options.Value.MetricsUrl)) HostLog.FollowEndpoint(loggers.CreateLogger(LogCategories.Follow), options.Value.MetricsUrl);
        return follower.RunAsync(rebuild.Requested, stoppingToken);
    }
}
