using System.Globalization;
using Bmm.Configuration;
using Bmm.Database;
using Bmm.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Bmm.Follow;

/// <summary>
/// The follower is healthy while its loop keeps going round and the oldest change not yet
/// applied is younger than the limit: a stuck loop and a follower that cannot keep up both show.
/// </summary>
public sealed class FollowHealthCheck(JobStateCache state, Follower follower, IOptions<FollowOptions> options, TimeProvider time, HealthTransitions transitions) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var reading = await state.GetAsync(cancellationToken);
        return transitions.Report(Evaluate(reading, follower.LastTickAt, options.Value.UnhealthyAfterSeconds, time.GetUtcNow()));
    }

    private static HealthVerdict Evaluate(StateReading reading, DateTimeOffset lastTick, double limit, DateTimeOffset now)
    {
        if (reading.Error is { } error)
            return new HealthVerdict(false, "cannot read the job state: " + Errors.Describe(error));
        if (JobStateCache.Aged(reading, now) is not { } snapshot)
            return new HealthVerdict(false, "the job state has not been read yet.");
        var sinceTick = (now - lastTick).TotalSeconds;
        if (sinceTick > limit)
            return new HealthVerdict(false, string.Create(CultureInfo.InvariantCulture, $"the follower has not completed a pass for {sinceTick:F0}s (limit {limit:F0}s)."));
        if (snapshot.LagSeconds > limit)
            return new HealthVerdict(false, string.Create(CultureInfo.InvariantCulture, $"the oldest change not yet applied is {snapshot.LagSeconds:F0}s old (limit {limit:F0}s)."));
        return new HealthVerdict(true, "healthy");
    }
}
