using Bmm.Configuration;
using Bmm.Hosting;
using Bmm.Reconcile;
using Bmm.Refresh;
using Bmm.Strategies;
using Bmm.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Bmm.Serve;

/// <summary><c>bmm serve</c>: the scheduler, with /metrics and /health, under the Generic Host.</summary>
public static class ServeHost
{
    /// <summary>
    /// Builds the host from <paramref name="configuration"/> (sections Job and Serve); the strategy
    /// is Job:Strategy unless <paramref name="strategy"/> is given. Bad options, an unknown strategy
    /// or a metrics URL that is not one are usage errors here, before anything starts.
    /// </summary>
    public static IHost Build(IConfiguration configuration, JobHostParts parts, IRefreshStrategy? strategy = null)
    {
        // An unusable URL leaves the host without an endpoint; its options then fail validation below.
        var endpoint = MetricsAddress.TryParse(configuration["Serve:MetricsUrl"] ?? new ServeOptions().MetricsUrl);
        var host = JobHost.Build<ServeService, ServeHealthCheck>(configuration, parts, endpoint, services =>
        {
            JobHost.AddChecked(services, services.AddOptions<ServeOptions>().Bind(configuration.GetSection("Serve"), JobHost.RefuseUnknownSettings));
            services.AddSingleton(sp => strategy ?? StrategyCatalog.Create(sp.GetRequiredService<IOptions<JobOptions>>().Value.Strategy));
            services.AddSingleton(sp => new JobStateCache(
                sp.GetRequiredService<NpgsqlDataSource>(), Reconciler.LagConsumerOf(sp.GetRequiredService<IRefreshStrategy>()),
                TimeSpan.FromSeconds(sp.GetRequiredService<IOptions<ServeOptions>>().Value.StateCacheSeconds),
                sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger(LogCategories.Serve)));
        });
        try
        {
            _ = host.Services.GetRequiredService<IRefreshStrategy>();
        }
        catch (UsageException)
        {
            host.Dispose();
            throw;
        }
        return host;
    }

    /// <summary>Serves until <paramref name="stop"/> is cancelled; returns once the run in flight has stopped.</summary>
    public static Task RunAsync(IHost host, CancellationToken stop) =>
        JobHost.RunAsync(host, host.Services.GetRequiredService<IOptions<ServeOptions>>().Value.MetricsUrl, stop);
}
