using Bmm.Configuration;
using Bmm.Refresh;
using Bmm.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;
using Prometheus;

namespace Bmm.Serve;

/// <summary>
/// <c>bmm serve</c>: the scheduler plus the /metrics and /health endpoint, until stopped.
/// Constructing it checks the options, so bad usage fails before anything is started.
/// </summary>
public sealed class ServeHost
{
    // prometheus-net unpublishes a series that was not updated for this long; a day, its
    // maximum, so that a counter moving only on rare events (failures, clamps) stays visible.
    private static readonly TimeSpan SeriesExpireAfter = TimeSpan.FromDays(1);
    private readonly ServeOptions _options;

    public ServeHost(ServeOptions options)
    {
        options.Validate();
        _options = options;
        Schedule = CronSchedule.Parse(options.Schedule);
        MetricsPrefix = MetricsEndpoint.NormalizePrefix(options.MetricsUrl);
    }

    public CronSchedule Schedule { get; }

    /// <summary>The listener prefix; /metrics and /health are served below it.</summary>
    public string MetricsPrefix { get; }

    /// <summary>Serves until <paramref name="stop"/> is cancelled; returns once the run in flight has stopped.</summary>
    public async Task RunAsync(NpgsqlDataSource dataSource, JobOptions job, IRefreshStrategy strategy, TimeProvider time, ILogger logger, JobMetrics metrics, CancellationToken stop)
    {
        var registry = Metrics.NewCustomRegistry();
        using var adapter = Export(metrics, registry);

        var state = new JobStateCache(dataSource, Reconcile.Reconciler.LagConsumerOf(strategy), TimeSpan.FromSeconds(_options.StateCacheSeconds), time, logger);
        metrics.ObserveState(() => state.Current);
        var health = new HealthCheck(state, Schedule, _options.UnhealthyAfterIntervals, time);
        await using var endpoint = MetricsEndpoint.Start(MetricsPrefix, registry, state, health, logger);
        Log.Serving(logger, Schedule.Text, MetricsPrefix);

        var runner = new RefreshRunner(dataSource, job, time, logger, metrics) { ReconcileEvery = () => Schedule.IntervalAfter(time.GetUtcNow()) };
        await new Scheduler(runner, strategy, Schedule, _options, time, logger, metrics).RunAsync(stop);
        Log.Stopped(logger);
    }

    /// <summary>
    /// Exports every System.Diagnostics.Metrics meter in the process (runtime, Npgsql, ...)
    /// into <paramref name="registry"/>, but of the job's own meter only <paramref name="metrics"/>:
    /// other JobMetrics in the process (tests) stay out.
    /// </summary>
    internal static IDisposable Export(JobMetrics metrics, CollectorRegistry registry)
    {
        var ownMeter = metrics.RunDuration.Meter;
        return MeterAdapter.StartListening(new MeterAdapterOptions
        {
            Registry = registry,
            // prometheus-net 8.2 writes to this factory, not to Registry, and defaults it to the global registry.
            MetricFactory = Metrics.WithCustomRegistry(registry),
            InstrumentFilterPredicate = instrument => instrument.Meter.Name != JobMetrics.MeterName || ReferenceEquals(instrument.Meter, ownMeter),
            MetricsExpireAfter = SeriesExpireAfter,
        });
    }
}
