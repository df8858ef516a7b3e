using System.Globalization;
using Bmm.Database;
using Bmm.Serve;

namespace Bmm.Follow;

/// <summary>
/// The follower is healthy while its loop keeps going round and the oldest change not yet
/// applied is younger than the limit: a stuck loop and a follower that cannot keep up both show.
/// </summary>
public sealed class FollowHealth(JobStateCache state, Follower follower, TimeSpan limit, TimeProvider time) : IHealthCheck
{
    public async Task<HealthReport> CheckAsync(CancellationToken cancellationToken)
    {
        var reading = await state.GetAsync(cancellationToken);
        if (reading.Error is { } error)
            return new HealthReport(false, "cannot read the job state: " + Errors.Describe(error));
        if (JobStateCache.Aged(reading, time.GetUtcNow()) is not { } snapshot)
            return new HealthReport(false, "the job state has not been read yet.");
        var sinceTick = (time.GetUtcNow() - follower.LastTickAt).TotalSeconds;
        if (sinceTick > limit.TotalSeconds)
            return new HealthReport(false, string.Create(CultureInfo.InvariantCulture, $"the follower has not completed a pass for {sinceTick:F0}s (limit {limit.TotalSeconds:F0}s)."));
        if (snapshot.LagSeconds > limit.TotalSeconds)
            return new HealthReport(false, string.Create(CultureInfo.InvariantCulture, $"the oldest change not yet applied is {snapshot.LagSeconds:F0}s old (limit {limit.TotalSeconds:F0}s)."));
        return new HealthReport(true, "healthy");
    }
}
