using Bmm.Refresh;
using Bmm.Tests.Infrastructure;

namespace Bmm.Tests.Baselines;

/// <summary>What the baselines get right, and what they cost when nothing changed.</summary>
public sealed class BaselineCorrectnessTests : FreshDatabaseTest
{
    [Theory]
    [InlineData("sequential")]
    [InlineData("phase1")]
    public async Task A_metric_change_is_computed_exactly_and_the_watermark_is_the_runs_start(string strategy)
    {
        await Site.Model(1);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Version(12, 1, "SDXL 1.0");
        await Site.Version(13, 1, "Pony");
        await Site.Metric(11, 100, 5);
        await Site.Metric(12, 10, 1);
        await Site.Metric(13, 7, 2);
        await Site.Review(1, 11, userId: 7);
        await Site.Review(2, 12, userId: 7);
        await Site.Review(3, 13, userId: 8);
        await Site.Review(4, 11, userId: 9, recommended: false);
        await Site.Model(2);
        await Site.Version(21, 2, "Flux.1 D");
        await Site.Metric(21, 3, 3);
        // As if the table were new: without the publish trigger's zero rows every pair is an insert.
        await Db.ExecuteAsync("""DELETE FROM "ModelBaseModelMetric" """);
        var clock = new FixedTimeProvider(DateTimeOffset.UtcNow);

        var first = await BaselineState.RunAndSucceedAsync(Db, strategy, clock);
        await Db.AssertMatchesOracleAsync("first run");
        Assert.Equal((2, 1, 3, 0), (first.AffectedModels, first.Batches, first.Inserted, first.Updated));
        Assert.Equal(clock.GetUtcNow().ToUnixTimeMilliseconds(), await BaselineState.WatermarkAsync(Db));

        await Site.Metric(11, 150, 6);
        clock.Advance(TimeSpan.FromMinutes(1));
        var second = await BaselineState.RunAndSucceedAsync(Db, strategy, clock);
        await Db.AssertMatchesOracleAsync("after a metric change");
        Assert.Equal(150 + 10, await Db.ScalarAsync<int>("""SELECT "downloadCount" FROM "ModelBaseModelMetric" WHERE "modelId" = 1 AND "baseModel" = 'SDXL 1.0'"""));
        Assert.Equal(0, second.Inserted + second.Deleted + second.Unchanged);
        Assert.Equal(clock.GetUtcNow().ToUnixTimeMilliseconds(), await BaselineState.WatermarkAsync(Db));
    }

    [Theory]
    [InlineData("sequential")]
    [InlineData("phase1")]
    public async Task Every_affected_row_is_rewritten_even_when_nothing_changed(string strategy)
    {
        await Site.Model(1);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Metric(11, 5, 5);
        // Five minutes after the write, so that only the queue makes the model affected later.
        var clock = new FixedTimeProvider(DateTimeOffset.UtcNow.AddMinutes(5));
        await BaselineState.RunAndSucceedAsync(Db, strategy, clock);
        await Db.AssertMatchesOracleAsync("first run");
        var firstWrite = await Db.ScalarAsync<DateTime>("""SELECT "updatedAt" FROM "ModelBaseModelMetric" WHERE "modelId" = 1""");

        await BaselineState.EnqueueAsync(Db, 1);
        clock.Advance(TimeSpan.FromMinutes(5));
        await Task.Delay(5, TestContext.Current.CancellationToken);
        var second = await BaselineState.RunAndSucceedAsync(Db, strategy, clock);

        Assert.Equal((1, 1, 0), (second.AffectedModels, second.Updated, second.Unchanged));
        Assert.True(await Db.ScalarAsync<DateTime>("""SELECT "updatedAt" FROM "ModelBaseModelMetric" WHERE "modelId" = 1""") > firstWrite,
            "the unchanged row was rewritten and its updatedAt bumped");
        Assert.Equal(0, await BaselineState.QueueDepthAsync(Db));
        await Db.AssertMatchesOracleAsync("second run");
    }
}
