using Bmm.Refresh;
using Bmm.Tests.Infrastructure;
using Npgsql;

namespace Bmm.Tests.Baselines;

/// <summary>
/// The documented flaws of the site's job, shown on the baselines so that comparisons with them
/// stay honest: each test ends with the table differing from the oracle in the documented way.
/// </summary>
public sealed class BaselineFlawTests : FreshDatabaseTest
{
    [Theory]
    [InlineData("phase1")]
    [InlineData("sequential")]
    public async Task An_unpublished_version_leaves_a_stale_row_that_setbased_removes(string strategy)
    {
        await Site.Model(1);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Version(12, 1, "Pony");
        await Site.Metric(11, 5, 5);
        await Site.Metric(12, 9, 9);
        await BaselineState.RunAndSucceedAsync(Db, strategy);
        await Db.AssertMatchesOracleAsync("published");

        await Site.SetVersionStatus(12, "Unpublished");
        await Site.Metric(11, 6, 5);
        await BaselineState.RunAndSucceedAsync(Db, strategy);

        var report = await Db.VerifyAsync();
        Assert.Equal(1, report.Drift);
        var stale = Assert.Single(report.Samples);
        Assert.Equal(("extra", 1, "Pony"), (stale.Kind, stale.ModelId, stale.BaseModel));

        await BaselineState.RunAndSucceedAsync(Db, "setbased");
        await Db.AssertMatchesOracleAsync("after setbased");
    }

    [Theory]
    [InlineData("phase1")]
    [InlineData("sequential")]
    public async Task A_pair_with_reviews_but_no_metric_row_is_dropped(string strategy)
    {
        await Site.Model(1);
        await Site.Version(11, 1, "Illustrious");
        await Site.Review(1, 11, userId: 7);
        await BaselineState.EnqueueAsync(Db, 1);
        await BaselineState.RunAndSucceedAsync(Db, strategy);

        // The publish trigger's zero row stays as it was: the review is never counted.
        var report = await Db.VerifyAsync();
        Assert.Equal((0, 0, 1), (report.Missing, report.Extra, report.Wrong));

        // Without that row (a pair published before the trigger existed) the pair is missing.
        await Db.ExecuteAsync("""DELETE FROM "ModelBaseModelMetric" """);
        await BaselineState.EnqueueAsync(Db, 1);
        var result = await BaselineState.RunAndSucceedAsync(Db, strategy);
        Assert.Equal((1, 0, 0), (result.AffectedModels, result.Inserted, result.Updated));
        report = await Db.VerifyAsync();
        Assert.Equal((1, 0, 0), (report.Missing, report.Extra, report.Wrong));
        Assert.Equal(("missing", 1, "Illustrious"), (report.Samples[0].Kind, report.Samples[0].ModelId, report.Samples[0].BaseModel));
    }

    [Theory]
    [InlineData("phase1")]
    [InlineData("sequential")]
    public async Task A_hard_deleted_review_is_never_uncounted(string strategy)
    {
        await Site.Model(1);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Metric(11, 5, 5);
        await Site.Review(1, 11, userId: 7);
        // The runs come every five minutes, the first one five minutes after the metric write.
        var clock = new FixedTimeProvider(DateTimeOffset.UtcNow.AddMinutes(5));
        await BaselineState.RunAndSucceedAsync(Db, strategy, clock);
        await Db.AssertMatchesOracleAsync("reviewed");

        await Site.DeleteReview(1);
        clock.Advance(TimeSpan.FromMinutes(5));
        var result = await BaselineState.RunAndSucceedAsync(Db, strategy, clock);

        Assert.Equal(0, result.AffectedModels);
        var report = await Db.VerifyAsync();
        Assert.Equal((0, 0, 1), (report.Missing, report.Extra, report.Wrong));
        Assert.Equal(1, await Db.ScalarAsync<int>("""SELECT "thumbsUpCount" FROM "ModelBaseModelMetric" WHERE "modelId" = 1"""));
    }

    [Theory]
    [InlineData("phase1")]
    [InlineData("sequential")]
    public async Task A_write_committed_more_than_two_minutes_after_its_stamp_is_skipped(string strategy)
    {
        await Site.Model(1);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Metric(11, 5, 5);
        var clock = new FixedTimeProvider(DateTimeOffset.UtcNow);
        await BaselineState.RunAndSucceedAsync(Db, strategy, clock);
        await Db.AssertMatchesOracleAsync("first run");

        // A slow writer: its transaction stamped updatedAt three minutes before it committed.
        await Db.ExecuteAsync("""UPDATE "ModelVersionMetric" SET "downloadCount" = 50, "updatedAt" = now() - interval '3 minutes' WHERE "modelVersionId" = 11""");
        clock.Advance(TimeSpan.FromMinutes(5));
        var result = await BaselineState.RunAndSucceedAsync(Db, strategy, clock);

        Assert.Equal(0, result.AffectedModels);
        Assert.Equal(1, (await Db.VerifyAsync()).Wrong);
    }

    [Theory]
    [InlineData("phase1")]
    [InlineData("sequential")]
    public async Task A_sum_above_int4_fails_the_run_and_keeps_the_watermark(string strategy)
    {
        await Site.Model(1);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Version(12, 1, "SDXL 1.0");
        await Site.Metric(11, int.MaxValue, 1);
        await Site.Metric(12, 5, 1);
        var before = DateTimeOffset.UtcNow.AddHours(-1);
        await BaselineState.SetWatermarkAsync(Db, before);
        await BaselineState.EnqueueAsync(Db, 1);

        var report = await Db.RunAsync(strategy);

        Assert.Equal(RunOutcome.Failed, report.Outcome);
        Assert.Equal(PostgresErrorCodes.NumericValueOutOfRange, Assert.IsType<PostgresException>(report.Error).SqlState);
        Assert.Equal(before.ToUnixTimeMilliseconds(), await BaselineState.WatermarkAsync(Db));
        Assert.Equal(1, await BaselineState.QueueDepthAsync(Db));
    }
}
