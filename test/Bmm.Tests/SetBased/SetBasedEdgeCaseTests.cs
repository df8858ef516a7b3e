using Bmm.Refresh;
using Bmm.Tests.Infrastructure;

namespace Bmm.Tests.SetBased;

/// <summary>The edge cases of the definition, each by name: after one setbased run the table equals the oracle.</summary>
public sealed class SetBasedEdgeCaseTests : FreshDatabaseTest
{
    private async Task<RunReport> RunAndAssertAsync(string step)
    {
        var report = await Db.RunAsync();
        Assert.Equal(RunOutcome.Succeeded, report.Outcome);
        await Db.AssertMatchesOracleAsync(step);
        return report;
    }

    [Fact]
    public async Task One_user_liking_three_versions_of_one_base_model_counts_once()
    {
        await Site.Model(1);
        foreach (var v in new[] { 11, 12, 13 }) await Site.Version(v, 1, "SDXL 1.0");
        foreach (var v in new[] { 11, 12, 13 }) await Site.Review(v, v, userId: 7);
        await Site.Review(20, 11, userId: 8);
        await RunAndAssertAsync("after reviews");
        Assert.Equal(2, await Db.ScalarAsync<int>("""SELECT "thumbsUpCount" FROM "ModelBaseModelMetric" WHERE "modelId" = 1"""));
    }

    [Fact]
    public async Task A_version_moved_between_base_models_moves_its_numbers()
    {
        await Site.Model(1);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Version(12, 1, "SDXL 1.0");
        await Site.Metric(11, 100, 5);
        await Site.Metric(12, 10, 1);
        await Site.Review(1, 11, 7);
        await RunAndAssertAsync("before the move");
        await Site.MoveVersion(11, "Pony");
        await RunAndAssertAsync("after the move");
        Assert.Equal(100, await Db.ScalarAsync<int>("""SELECT "downloadCount" FROM "ModelBaseModelMetric" WHERE "modelId" = 1 AND "baseModel" = 'Pony'"""));
    }

    [Fact]
    public async Task The_last_published_version_of_a_base_model_unpublished_removes_the_row()
    {
        await Site.Model(1);
        await Site.Version(11, 1, "Flux.1 D");
        await Site.Version(12, 1, "SDXL 1.0");
        await Site.Metric(11, 3, 3);
        await RunAndAssertAsync("published");
        await Site.SetVersionStatus(11, "Unpublished");
        await RunAndAssertAsync("unpublished");
        Assert.Equal(0L, await Db.ScalarAsync<long>("""SELECT count(*) FROM "ModelBaseModelMetric" WHERE "baseModel" = 'Flux.1 D'"""));
    }

    [Fact]
    public async Task Excluded_tos_violating_and_not_recommended_reviews_do_not_count()
    {
        await Site.Model(1);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Review(1, 11, 1, exclude: true);
        await Site.Review(2, 11, 2, tosViolation: true);
        await Site.Review(3, 11, 3, recommended: false);
        await Site.Review(4, 11, 4);
        await RunAndAssertAsync("mixed reviews");
        await Site.UpdateReview(4, recommended: true, exclude: true);
        await Site.UpdateReview(3, recommended: true);
        await RunAndAssertAsync("edited reviews");
    }

    [Fact]
    public async Task A_hard_deleted_review_is_uncounted()
    {
        await Site.Model(1);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Review(1, 11, 1);
        await RunAndAssertAsync("reviewed");
        await Site.DeleteReview(1);
        await RunAndAssertAsync("review deleted");
    }

    [Fact]
    public async Task A_review_on_a_version_without_a_metric_row_keeps_its_pair()
    {
        await Site.Model(1);
        await Site.Version(11, 1, "Illustrious");
        await Site.Review(1, 11, 1);
        await RunAndAssertAsync("review only");
        Assert.Equal(1, await Db.ScalarAsync<int>("""SELECT "thumbsUpCount" FROM "ModelBaseModelMetric" WHERE "modelId" = 1"""));
        await Site.DeleteMetric(11);
        await RunAndAssertAsync("metric row deleted");
    }

    [Fact]
    public async Task A_deleted_model_loses_its_rows()
    {
        await Site.Model(1);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Metric(11, 1, 1);
        await RunAndAssertAsync("created");
        await Site.DeleteModel(1);
        await RunAndAssertAsync("deleted");
        Assert.Equal(0L, await Db.ScalarAsync<long>("""SELECT count(*) FROM "ModelBaseModelMetric" """));
    }

    [Fact]
    public async Task Base_model_names_with_quotes_and_non_ascii_round_trip()
    {
        await Site.Model(1);
        await Site.Version(11, 1, "O'Brien \"XL\" 1.0");
        await Site.Version(12, 1, "Ünïcödé 模型 🎨");
        await Site.Metric(11, 4, 2);
        await Site.Metric(12, 8, 1);
        await RunAndAssertAsync("odd names");
    }

    [Fact]
    public async Task A_deleted_version_and_model_edits_are_followed()
    {
        await Site.Model(1);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Version(12, 1, "Pony");
        await Site.Metric(11, 5, 5);
        await Site.Review(1, 12, 3);
        await RunAndAssertAsync("created");
        await Site.DeleteVersion(12);
        await Site.EditModel(1, "Published", nsfwLevel: 4, poi: true, mode: "Archived");
        await RunAndAssertAsync("version deleted, model edited");
    }

    [Fact]
    public async Task Sums_above_int4_are_clamped_and_counted()
    {
        await Site.Model(1);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Version(12, 1, "SDXL 1.0");
        await Site.Metric(11, int.MaxValue, 1);
        await Site.Metric(12, 5, 1);
        var report = await RunAndAssertAsync("overflowing sum");
        Assert.Equal(1, report.Result!.Clamped);
        Assert.Equal(int.MaxValue, await Db.ScalarAsync<int>("""SELECT "downloadCount" FROM "ModelBaseModelMetric" WHERE "modelId" = 1"""));
    }

    [Fact]
    public async Task A_second_run_with_nothing_changed_writes_nothing()
    {
        await Site.Model(1);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Metric(11, 5, 5);
        await RunAndAssertAsync("first");
        await Db.ExecuteAsync("""INSERT INTO bmm.model_queue (model_id) VALUES (1)""");
        var second = await RunAndAssertAsync("second");
        Assert.Equal(1, second.Result!.AffectedModels);
        Assert.Equal(0, second.Result.Inserted + second.Result.Updated + second.Result.Deleted);
        Assert.Equal(1, second.Result.Unchanged);
    }

    [Fact]
    public async Task A_run_with_nothing_pending_leaves_the_position_and_the_log_alone()
    {
        await Site.Model(1);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Metric(11, 5, 5);
        await RunAndAssertAsync("first");
        const string Position = "SELECT xid || '/' || model_id || '/' || updated_at FROM bmm.consumer WHERE name = 'setbased'";
        var position = await Db.ScalarAsync<string>(Position);
        var quiet = await RunAndAssertAsync("quiet");
        Assert.Equal(0, quiet.Result!.Batches);
        Assert.Equal(["read_changes"], quiet.Result.PhaseSeconds.Keys);
        Assert.Equal(position, await Db.ScalarAsync<string>(Position));
        Assert.NotNull(quiet.Result.Watermark);

        await Site.Metric(11, 6, 5);
        var next = await RunAndAssertAsync("a change after the quiet run");
        Assert.Equal(1, next.Result!.Updated);
    }

    [Fact]
    public async Task A_slice_cut_inside_one_transactions_rows_of_a_model_still_recounts_it()
    {
        await Site.Model(1);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Metric(11, 1, 1);
        await Site.Review(1, 11, userId: 7);
        await RunAndAssertAsync("before");
        // One transaction logs (xid, model 1) twice: a metric change (no recount), then a review (recount).
        await Db.ExecuteAsync("""
            BEGIN;
            UPDATE "ModelVersionMetric" SET "downloadCount" = 2 WHERE "modelVersionId" = 11;
            INSERT INTO "ResourceReview" ("id", "modelId", "modelVersionId", "userId", "rating") VALUES (2, 1, 11, 8, 5);
            COMMIT;
            """);
        Db.Options.ScanSize = 1;
        await RunAndAssertAsync("after a one-row slice");
        Assert.Equal(2, await Db.ScalarAsync<int>("""SELECT "thumbsUpCount" FROM "ModelBaseModelMetric" WHERE "modelId" = 1"""));
    }
}
