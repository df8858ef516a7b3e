namespace Bmm.Resilience;

/// <summary>
/// How long every retrying loop of the job waits after its n-th failure in a row: the floor,
/// doubled for each further failure, up to the ceiling, plus up to <see cref="Jitter"/> drawn
/// at random so that processes that failed together do not retry together.
/// </summary>
public sealed record Backoff(TimeSpan Floor, TimeSpan Ceiling, TimeSpan Jitter = default)
{
    /// <summary>The wait after <paramref name="failures"/> failures in a row (none before the first).</summary>
    public TimeSpan After(int failures)
    {
        if (failures < 1) return TimeSpan.Zero;
        var seconds = Math.Min(Floor.TotalSeconds * Math.Pow(2, Math.Min(failures - 1, 30)), Ceiling.TotalSeconds);
        var jitter = Jitter > TimeSpan.Zero ? Random.Shared.NextDouble() * Jitter.TotalSeconds : 0;
        return TimeSpan.FromSeconds(seconds + jitter);
    }
}
