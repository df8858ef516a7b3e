namespace Bmm.Seeding;

/// <summary>What <see cref="ChangeSimulator"/> simulates.</summary>
public sealed record SimulationOptions
{
    /// <summary>Simulated minutes; the clock advances one minute per simulated minute, however fast they run.</summary>
    public int Minutes { get; init; } = 5;

    /// <summary>Multiplier of the site's measured churn (1 = the site).</summary>
    public double Rate { get; init; } = 1.0;

    /// <summary>The seed of every random choice: on the same data, the same seed makes the same changes.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>The simulated clock's start (UTC); by default the "KeyValue" watermark, else now.</summary>
    public DateTime? Start { get; init; }
}
