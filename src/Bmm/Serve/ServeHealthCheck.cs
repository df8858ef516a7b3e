using System.Globalization;
using Bmm.Configuration;
using Bmm.Database;
using Bmm.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Bmm.Serve;

/// <summary>
/// The data is healthy while its age stays within <c>Serve:UnhealthyAfterIntervals</c> schedule
/// intervals. The age is the larger of the lag of the oldest change not yet applied and the time
/// since the last successful run finished, so both a stuck consumer and a job that stopped
/// running show.
/// </summary>
public sealed class ServeHealthCheck(JobStateCache state, IOptions<ServeOptions> options, TimeProvider time, HealthTransitions transitions) : IHealthCheck
{
    private readonly DateTimeOffset _servingSince = time.GetUtcNow();
    private readonly CronSchedule _schedule = CronSchedule.Parse(options.Value.Schedule);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var reading = await state.GetAsync(cancellationToken);
        return transitions.Report(Evaluate(reading, _schedule, options.Value.UnhealthyAfterIntervals, time.GetUtcNow(), _servingSince));
    }

    /// <summary>
    /// Judges one reading. Before any run has ever succeeded, the time this process has been
    /// serving stands in for the time since the last success, so a fresh deployment is given
    /// its first runs before it is called unhealthy.
    /// </summary>
    public static HealthVerdict Evaluate(StateReading reading, CronSchedule schedule, int intervals, DateTimeOffset now, DateTimeOffset servingSince)
    {
        if (reading.Error is { } error)
            return new HealthVerdict(false, "cannot read the job state: " + Errors.Describe(error));
        if (JobStateCache.Aged(reading, now) is not { } snapshot)
            return new HealthVerdict(false, "the job state has not been read yet.");

        var interval = schedule.IntervalAfter(now).TotalSeconds;
        var limit = interval * intervals;
        var neverSucceeded = double.IsInfinity(snapshot.SecondsSinceLastSuccess);
        var sinceSuccess = neverSucceeded ? Math.Max(0, (now - servingSince).TotalSeconds) : snapshot.SecondsSinceLastSuccess;
        var age = Math.Max(snapshot.LagSeconds, sinceSuccess);
        if (age <= limit) return new HealthVerdict(true, "healthy");

        var successText = neverSucceeded
            ? $"no successful run recorded in {sinceSuccess:F0}s of serving"
            : $"last successful run {sinceSuccess:F0}s ago";
        return new HealthVerdict(false, string.Create(CultureInfo.InvariantCulture,
            $"data is {age:F0}s old (oldest pending change {snapshot.LagSeconds:F0}s, {successText}), more than {intervals} schedule intervals of {interval:F0}s."));
    }
}
