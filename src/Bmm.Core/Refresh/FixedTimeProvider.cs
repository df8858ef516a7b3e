namespace Bmm.Refresh;

/// <summary>
/// A clock that stands still until moved: what the baselines' timestamp watermark reads when a
/// benchmark replays a simulated window (run --clock), and what tests control.
/// </summary>
public sealed class FixedTimeProvider(DateTimeOffset now) : TimeProvider
{
    private DateTimeOffset _now = now;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
