using Bmm.Refresh;
using Bmm.Tests.Infrastructure;

namespace Bmm.Tests.ReviewsMv;

/// <summary>
/// The plan's Option C: exact after a refresh, stale by up to the refresh interval in between
/// (its documented flaw), and the view refreshed only when due. The clock is the run's
/// TimeProvider, so the tests move it instead of waiting.
/// </summary>
public sealed class ReviewsMvTests : FreshDatabaseTest
{
    private readonly FixedTimeProvider _clock = new(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));

    private async Task<RefreshResult> RunAsync()
    {
        var report = await Db.RunAsync("reviews-mv", _clock);
        Assert.True(report.Outcome == RunOutcome.Succeeded, $"{report.Outcome} {report.Error}");
        return report.Result!;
    }

    private Task<int> ThumbsUpAsync(int modelId) =>
        Db.ScalarAsync<int>($"""SELECT "thumbsUpCount" FROM "ModelBaseModelMetric" WHERE "modelId" = {modelId}""");

    private async Task PopulateAsync()
    {
        await Site.Model(1);
        await Site.Model(2);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Version(12, 1, "Pony");
        await Site.Version(21, 2, "SDXL 1.0");
        await Site.Metric(11, 100, 5);
        await Site.Metric(21, 7, 1);
        foreach (var v in new[] { 11, 12 }) await Site.Review(v, v, userId: 7);
        await Site.Review(13, 11, userId: 8, exclude: true);
        await Site.Review(14, 12, userId: 9, recommended: false);
        await Site.Review(22, 21, userId: 7, tosViolation: true);
    }

    [Fact]
    public async Task After_changes_and_a_run_with_a_refresh_due_the_table_equals_the_oracle()
    {
        await PopulateAsync();
        var first = await RunAsync();
        Assert.Contains("refresh_mv", first.PhaseSeconds.Keys);
        await Db.AssertMatchesOracleAsync("first run");

        await Site.Review(15, 11, userId: 10);
        await Site.UpdateReview(13, recommended: true);
        await Site.MoveVersion(12, "SDXL 1.0");
        await Site.SetVersionStatus(21, "Unpublished");
        await Site.Version(31, 1, "Illustrious");
        await Site.Review(31, 31, userId: 3);
        await Site.DeleteReview(11);
        await Site.Metric(11, 250, 6);
        _clock.Advance(TimeSpan.FromMinutes(Db.Options.ReviewsMvRefreshMinutes));
        var due = await RunAsync();
        Assert.Contains("refresh_mv", due.PhaseSeconds.Keys);
        await Db.AssertMatchesOracleAsync("after the refresh");
    }

    [Fact]
    public async Task A_review_change_after_the_refresh_is_stale_until_the_next_refresh()
    {
        await PopulateAsync();
        await RunAsync();
        Assert.Equal(0, await ThumbsUpAsync(2));

        // A new thumbs-up and a metric change: the model is recomputed, from the view as of the refresh.
        await Site.Review(23, 21, userId: 8);
        await Site.Metric(21, 9, 1);
        _clock.Advance(TimeSpan.FromMinutes(Db.Options.ReviewsMvRefreshMinutes - 1));
        var notDue = await RunAsync();
        Assert.DoesNotContain("refresh_mv", notDue.PhaseSeconds.Keys);
        Assert.Equal(1, notDue.AffectedModels);
        Assert.Equal(9, await Db.ScalarAsync<int>("""SELECT "downloadCount" FROM "ModelBaseModelMetric" WHERE "modelId" = 2"""));
        Assert.Equal(0, await ThumbsUpAsync(2));
        var drift = await Db.VerifyAsync();
        Assert.Equal((0L, 0L, 1L), (drift.Missing, drift.Extra, drift.Wrong));

        // The change log is consumed by now: the refresh's recomputation of differing rows fixes it.
        _clock.Advance(TimeSpan.FromMinutes(1));
        var due = await RunAsync();
        Assert.Contains("refresh_mv", due.PhaseSeconds.Keys);
        Assert.Equal(1, due.AffectedModels);
        Assert.Equal(1, await ThumbsUpAsync(2));
        await Db.AssertMatchesOracleAsync("after the next refresh");
    }

    [Fact]
    public async Task The_view_is_refreshed_only_when_due_and_each_refresh_is_recorded()
    {
        await PopulateAsync();
        var start = _clock.GetUtcNow();
        Assert.Contains("refresh_mv", (await RunAsync()).PhaseSeconds.Keys);
        Assert.Equal(start.UtcDateTime, await Db.ScalarAsync<DateTime>("SELECT refreshed_at FROM bmm.review_stats_refresh"));
        Assert.True(await Db.ScalarAsync<double>("SELECT duration_seconds FROM bmm.review_stats_refresh") > 0);

        _clock.Advance(TimeSpan.FromMinutes(Db.Options.ReviewsMvRefreshMinutes) - TimeSpan.FromSeconds(1));
        var skipped = await RunAsync();
        Assert.DoesNotContain("refresh_mv", skipped.PhaseSeconds.Keys);
        Assert.Equal(start.UtcDateTime, await Db.ScalarAsync<DateTime>("SELECT refreshed_at FROM bmm.review_stats_refresh"));

        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Contains("refresh_mv", (await RunAsync()).PhaseSeconds.Keys);
        Assert.Equal(_clock.GetUtcNow().UtcDateTime, await Db.ScalarAsync<DateTime>("SELECT refreshed_at FROM bmm.review_stats_refresh"));
    }

    [Fact]
    public async Task Its_consumer_starts_where_setbased_is_so_switching_loses_and_redoes_nothing()
    {
        await PopulateAsync();
        Assert.Equal(RunOutcome.Succeeded, (await Db.RunAsync()).Outcome);
        await Site.Model(3);
        await Site.Version(41, 3, "Pony");
        await Site.Review(41, 41, userId: 4);

        // Only model 3: at the horizon it would miss it, from the start it would redo models 1 and 2.
        var switched = await RunAsync();
        Assert.Equal(1, switched.AffectedModels);
        await Db.AssertMatchesOracleAsync("after switching");
    }

    [Fact]
    public async Task Without_a_setbased_consumer_it_starts_at_the_horizon()
    {
        await Db.ExecuteAsync("DELETE FROM bmm.consumer");
        Assert.Equal(0, (await RunAsync()).AffectedModels);
        Assert.Equal(1L, await Db.ScalarAsync<long>("SELECT count(*) FROM bmm.consumer WHERE name = 'reviews-mv'"));

        await PopulateAsync();
        _clock.Advance(TimeSpan.FromMinutes(Db.Options.ReviewsMvRefreshMinutes));
        Assert.Equal(2, (await RunAsync()).AffectedModels);
        await Db.AssertMatchesOracleAsync("after the first changes");
    }
}
