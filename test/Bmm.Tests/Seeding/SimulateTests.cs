using Bmm.Refresh;
using Bmm.Seeding;
using Bmm.Tests.Infrastructure;

namespace Bmm.Tests.Seeding;

/// <summary>The simulator: the site's churn at its rates, deterministic, and a setbased run after it leaves no drift.</summary>
[Collection(SeedingCollection.Name)]
public sealed class SimulateTests
{
    private static readonly DateTime Start = new(2025, 10, 2, 12, 0, 0, DateTimeKind.Utc);

    private static Task<SimulationSummary> SimulateAsync(TestDatabase db, int minutes, double rate, int seed = 42) =>
        new ChangeSimulator(db.DataSource).RunAsync(new SimulationOptions { Minutes = minutes, Rate = rate, Seed = seed, Start = Start },
            TestContext.Current.CancellationToken);

    [Fact]
    public async Task Five_minutes_at_the_sites_rate_then_one_setbased_run_leave_no_drift()
    {
        await using var db = await TestDatabase.CreateAsync(TestContext.Current.CancellationToken);
        await SeedTests.SeedAsync(db);
        var summary = await SimulateAsync(db, minutes: 5, rate: 1);

        Assert.Equal(Start.AddMinutes(5), summary.SimulatedEnd);
        Assert.True(summary.MetricRows > 1_000, $"{summary.MetricRows} metric rows");
        Assert.True(summary.ReviewsCreated + summary.ReviewsEdited + summary.ReviewsDeleted > 100);
        Assert.True(summary.ModelEdits > 100);
        Assert.True(summary.VersionsCreated + summary.VersionsPublished + summary.VersionsUnpublished + summary.VersionsMoved > 0);
        // Every write is stamped with the simulated clock.
        Assert.True(await db.ScalarAsync<bool>($"""
            SELECT max("updatedAt") <= '{Start.AddMinutes(5):O}'::timestamp AND max("updatedAt") >= '{Start:O}'::timestamp FROM "ModelVersionMetric"
            """));

        db.Options.BatchSize = 500;
        var run = await db.RunAsync();
        Assert.Equal(RunOutcome.Succeeded, run.Outcome);
        Assert.True(run.Result!.AffectedModels > 500);
        await db.AssertMatchesOracleAsync("after 5 simulated minutes and one run");
    }

    [Fact]
    public async Task The_counts_follow_the_rates()
    {
        await using var db = await TestDatabase.CreateAsync(TestContext.Current.CancellationToken);
        await SeedTests.SeedAsync(db);
        const int minutes = 10;
        const double rate = 0.2;
        var s = await SimulateAsync(db, minutes, rate);

        Assert.InRange(s.MetricRows, 0.85 * 2_100 * rate * minutes, 1.15 * 2_100 * rate * minutes);
        Assert.Equal(4 * minutes, s.MetricStatements);
        Assert.InRange(s.MetricModelsPerMinute, 0.6 * 2_100 * rate, 1.05 * 2_100 * rate);
        Assert.InRange(s.ReviewsCreated + s.ReviewsEdited + s.ReviewsDeleted, 0.6 * 35 * rate * minutes, 1.4 * 35 * rate * minutes);
        Assert.True(s.ReviewsDeleted > 0 && s.ReviewsEdited > 0, $"{s.ReviewsEdited} edited, {s.ReviewsDeleted} deleted");
        Assert.InRange(s.ModelEdits, 0.6 * 35 * rate * minutes, 1.4 * 35 * rate * minutes);
        Assert.InRange(s.VersionsCreated + s.VersionsPublished + s.VersionsUnpublished + s.VersionsMoved, 1, 20);
        // The same popular models change again and again.
        Assert.True(s.DistinctModels < s.MetricModelsPerMinute * minutes * 0.8, $"{s.DistinctModels} distinct models");
    }

    [Fact]
    public async Task The_same_seed_makes_the_same_changes()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var first = await TestDatabase.CreateAsync(ct);
        await using var second = await TestDatabase.CreateAsync(ct);
        await Task.WhenAll(SeedTests.SeedAsync(first), SeedTests.SeedAsync(second));
        await SimulateAsync(first, minutes: 3, rate: 0.5, seed: 5);
        await SimulateAsync(second, minutes: 3, rate: 0.5, seed: 5);
        Assert.Equal(await SeedChecksums.ComputeAsync(first), await SeedChecksums.ComputeAsync(second));
    }
}
