namespace Bmm.Seeding;

/// <summary>The distributions the synthetic site draws from, on a seeded <see cref="Random"/> so that a seed gives the same data.</summary>
internal static class RandomDraws
{
    public static bool Chance(this Random random, double probability) => random.NextDouble() < probability;

    /// <summary>A standard normal draw (Box-Muller).</summary>
    public static double Normal(this Random random)
    {
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>Failures before the first success, each trial succeeding with <paramref name="p"/>; mean (1-p)/p.</summary>
    public static int Geometric(this Random random, double p) =>
        (int)Math.Min(Math.Floor(Math.Log(1.0 - random.NextDouble()) / Math.Log(1.0 - p)), 1_000_000);

    /// <summary>A Poisson draw; the normal approximation above a mean of 30.</summary>
    public static int Poisson(this Random random, double mean)
    {
        if (mean <= 0) return 0;
        if (mean > 30) return (int)Math.Max(0, Math.Round(mean + Math.Sqrt(mean) * random.Normal()));
        var limit = Math.Exp(-mean);
        var count = 0;
        var product = random.NextDouble();
        while (product > limit)
        {
            count++;
            product *= random.NextDouble();
        }
        return count;
    }

    /// <summary>An integer in [1, max], skewed toward small values: max * u^power, so density falls as x^(1/power - 1).</summary>
    public static int Skewed(this Random random, int max, double power = 2)
    {
        var u = random.NextDouble();
        return Math.Clamp(1 + (int)(max * Math.Pow(u, power)), 1, max);
    }
}
