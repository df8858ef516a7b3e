using Bmm.Configuration;
using Bmm.Hosting;
using Bmm.Reconcile;
using Bmm.Refresh;
using Bmm.Strategies;
using Bmm.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Bmm.Serve;

/// <summary>
/// The scheduler as a hosted service: a run at every occurrence of the schedule until the host
/// stops, each successful run of a reconciled strategy followed, under the same lock, by the
/// reconciliation of one slice of the table sized for runs this far apart.
/// </summary>
internal sealed class ServeService(
    NpgsqlDataSource dataSource, IRefreshStrategy strategy, IOptions<JobOptions> job, IOptions<ServeOptions> serve,
    TimeProvider time, ILoggerFactory loggers, JobMetrics metrics, JobHostParts parts) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var logger = loggers.CreateLogger(LogCategories.Serve);
        var schedule = CronSchedule.Parse(serve.Value.Schedule);
        HostLog.Serving(logger, schedule.Text, serve.Value.MetricsUrl);
        var runner = new RefreshRunner(dataSource, job.Value, time, loggers.CreateLogger(LogCategories.Refresh), metrics, StrategyCatalog.All, parts.ClickHouse?.Invoke());
        var reconciler = new Reconciler(dataSource, job.Value, loggers.CreateLogger(LogCategories.Refresh), metrics);
        Func<RefreshContext, CancellationToken, Task>? reconcile = strategy.Reconciliation == Reconciliation.None ? null
            : (_, ct) => ReconcileAsync(reconciler, schedule.IntervalAfter(time.GetUtcNow()), logger, ct);
        await new Scheduler(runner, strategy, reconcile, schedule, serve.Value, time, logger, metrics).RunAsync(stoppingToken);
        HostLog.Stopped(logger);
    }

    private async Task ReconcileAsync(Reconciler reconciler, TimeSpan interval, ILogger logger, CancellationToken cancellationToken)
    {
        try
        {
            await reconciler.CheckNextSliceAsync(strategy, interval, cancellationToken);
        }
#pragma warning disable CA1031 // The run succeeded; a failed check is logged and the slice tried again next run.
        catch (Exception e) when (e is not OperationCanceledException)
#pragma warning restore CA1031
        {
            Log.ReconcileFailed(logger, e);
        }
    }
}
