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
        const string Position = "SELECT xid || '/' || kind::text || '/' || row_id || '/' || updated_at FROM bmm.consumer WHERE name = 'setbased'";
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
    public async Task A_model_changed_by_a_metric_and_a_review_in_one_transaction_is_recounted()
    {
        await Site.Model(1);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Metric(11, 1, 1);
        await Site.Review(1, 11, userId: 7);
        await RunAndAssertAsync("before");
        // One transaction logs a metric change (no recount), then a review (recount) of one pair, batch by batch of one model.
        await Db.ExecuteAsync("""
            BEGIN;
            UPDATE "ModelVersionMetric" SET "downloadCount" = 2 WHERE "modelVersionId" = 11;
            INSERT INTO "ResourceReview" ("id", "modelId", "modelVersionId", "userId", "rating") VALUES (2, 1, 11, 8, 5);
            COMMIT;
            """);
        Db.Options.BatchSize = 1;
        await RunAndAssertAsync("after the transaction");
        Assert.Equal(2, await Db.ScalarAsync<int>("""SELECT "thumbsUpCount" FROM "ModelBaseModelMetric" WHERE "modelId" = 1"""));
    }

    /// <summary>
    /// A bulk load in three transactions (models and versions, then metrics, then reviews), drained
    /// by runs cut at a model budget: each run takes models in model order across all three, so
    /// every model is recomputed once, and the position stays exact between runs.
    /// </summary>
    [Fact]
    public async Task A_bulk_load_in_three_transactions_drains_with_each_model_recomputed_once()
    {
        await Db.ExecuteAsync("""
            INSERT INTO "Model" ("id", "name", "userId", "status") SELECT m, 'm', 1, 'Published' FROM generate_series(1, 300) m;
            INSERT INTO "ModelVersion" ("id", "modelId", "name", "baseModel", "status")
            SELECT 10 * m + b, m, 'v', (ARRAY['SDXL 1.0', 'Pony'])[b], 'Published' FROM generate_series(1, 300) m, generate_series(1, 2) b;
            """);
        await Db.ExecuteAsync("""
            INSERT INTO "ModelVersionMetric" ("modelVersionId", "downloadCount", "imageCount") SELECT "id", "id" % 97, 1 FROM "ModelVersion";
            """);
        await Db.ExecuteAsync("""
            INSERT INTO "ResourceReview" ("id", "modelId", "modelVersionId", "userId", "rating")
            SELECT 10 * v."id" + u, v."modelId", v."id", u, 5 FROM "ModelVersion" v, generate_series(1, 3) u;
            """);
        Db.Options.MaxModelsPerRun = 100;
        Db.Options.BatchSize = 40;
        var recomputed = 0L;
        var runs = 0;
        RunReport report;
        do
        {
            report = await Db.RunAsync();
            Assert.Equal(RunOutcome.Succeeded, report.Outcome);
            recomputed += report.Result!.AffectedModels;
            runs++;
        } while (report.Result.BacklogLeft && runs < 10);
        Assert.False(report.Result.BacklogLeft);
        Assert.Equal(300, recomputed);
        Assert.Equal(3, runs);
        await Db.AssertMatchesOracleAsync("after the drain");
    }

    /// <summary>
    /// Models <paramref name="first"/> to <paramref name="last"/>, each with one Published version
    /// (id 10 × model) of <paramref name="baseModel"/>, with a metric row when <paramref name="metrics"/>.
    /// </summary>
    private Task ModelsWithAVersionAsync(int first, int last, string baseModel, bool metrics = true) => Db.ExecuteAsync($"""
        INSERT INTO "Model" ("id", "name", "userId", "status") SELECT m, 'm', 1, 'Published' FROM generate_series({first}, {last}) m;
        INSERT INTO "ModelVersion" ("id", "modelId", "name", "baseModel", "status")
        SELECT 10 * m, m, 'v', '{baseModel}', 'Published' FROM generate_series({first}, {last}) m;
        """ + (metrics ? $"""
        INSERT INTO "ModelVersionMetric" ("modelVersionId", "downloadCount", "imageCount")
        SELECT "id", "id" % 97, 1 FROM "ModelVersion" WHERE "modelId" BETWEEN {first} AND {last};
        """ : ""));

    /// <summary>
    /// A sweep larger than a run's model budget is planned when it starts, and its later runs take
    /// their models from the plan: with the sweep's log rows gone after its first run, the drain
    /// still recomputes every model (read from the log, the later runs would find none), and the
    /// plan is removed with the move past the sweep.
    /// </summary>
    [Fact]
    public async Task The_later_runs_of_a_sweep_larger_than_a_run_take_their_models_from_its_plan()
    {
        await ModelsWithAVersionAsync(1, 300, "Pony");
        await RunAndAssertAsync("before the change");
        // Metric deltas of every model: a sweep of the models the log names (not of every model, see below).
        await Db.ExecuteAsync("""UPDATE "ModelVersionMetric" SET "downloadCount" = "downloadCount" + 1""");
        Db.Options.MaxModelsPerRun = 100;
        Db.Options.BatchSize = 40;
        const string Plan = "SELECT count(*) FROM bmm.sweep_plan WHERE consumer = 'setbased'";

        var first = await Db.RunAsync();
        Assert.Equal(RunOutcome.Succeeded, first.Outcome);
        Assert.True(first.Result!.BacklogLeft);
        Assert.Equal(100, first.Result.AffectedModels);
        Assert.Equal(300L, await Db.ScalarAsync<long>(Plan + " AND recount_bases IS NOT NULL"));
        await Db.ExecuteAsync("DELETE FROM bmm.change_log");

        var recomputed = first.Result.AffectedModels;
        RunReport report;
        var runs = 1;
        do
        {
            report = await Db.RunAsync();
            Assert.Equal(RunOutcome.Succeeded, report.Outcome);
            recomputed += report.Result!.AffectedModels;
            runs++;
        } while (report.Result.BacklogLeft && runs < 10);
        Assert.Equal(300, recomputed);
        Assert.Equal(3, runs);
        Assert.Equal(0L, await Db.ScalarAsync<long>(Plan));
        await Db.AssertMatchesOracleAsync("after the drain");
    }

    /// <summary>
    /// A backlog with at least as many review, version and model rows as the site has models (a
    /// bulk load) is swept whole: every model, named by the log or not, with every pair recounted,
    /// planned for the later runs without mapping the rows to models.
    /// </summary>
    [Fact]
    public async Task A_backlog_deeper_than_the_site_recomputes_every_model()
    {
        await ModelsWithAVersionAsync(1, 50, "Pony");
        await RunAndAssertAsync("before the load");
        // 100 more models, each with a version and three reviews: 400 rows that are not metric deltas against 150 models.
        await ModelsWithAVersionAsync(51, 150, "SDXL 1.0", metrics: false);
        await Db.ExecuteAsync("""
            INSERT INTO "ResourceReview" ("id", "modelId", "modelVersionId", "userId", "rating")
            SELECT 10 * v."id" + u, v."modelId", v."id", u, 5 FROM "ModelVersion" v, generate_series(1, 3) u WHERE v."modelId" > 50;
            """);
        Db.Options.MaxModelsPerRun = 100;
        Db.Options.BatchSize = 40;

        var first = await Db.RunAsync();
        Assert.Equal(RunOutcome.Succeeded, first.Outcome);
        Assert.Equal(100, first.Result!.AffectedModels);
        var plan = await Db.ScalarAsync<long[]>(
            "SELECT ARRAY[count(*), count(*) FILTER (WHERE recount_bases IS NULL)] FROM bmm.sweep_plan WHERE consumer = 'setbased'");
        Assert.Equal([150L, 150L], plan);
        var second = await Db.RunAsync();
        Assert.Equal(RunOutcome.Succeeded, second.Outcome);
        Assert.Equal(50, second.Result!.AffectedModels);
        Assert.False(second.Result.BacklogLeft);
        Assert.Equal(0L, await Db.ScalarAsync<long>("SELECT count(*) FROM bmm.sweep_plan"));
        await Db.AssertMatchesOracleAsync("after the drain");
    }

    /// <summary>
    /// Past ten thousand review, version and model rows the site's models are counted in full:
    /// 12,000 review rows against 20,000 models are mapped to their 4,000 models, 21,000 are not.
    /// </summary>
    [Fact]
    public async Task A_backlog_of_more_than_ten_thousand_rows_is_swept_whole_only_when_the_site_has_fewer_models()
    {
        await ModelsWithAVersionAsync(1, 20_000, "Pony");
        await RunAndAssertAsync("before the reviews");
        Task ThreeReviewsEachAsync(int first, int last) => Db.ExecuteAsync($"""
            INSERT INTO "ResourceReview" ("id", "modelId", "modelVersionId", "userId", "rating")
            SELECT 10 * v."id" + u, v."modelId", v."id", u, 5 FROM "ModelVersion" v, generate_series(1, 3) u WHERE v."modelId" BETWEEN {first} AND {last}
            """);
        await ThreeReviewsEachAsync(1, 4_000);
        var mapped = await RunAndAssertAsync("12,000 review rows");
        Assert.Equal(4_000, mapped.Result!.AffectedModels);
        await ThreeReviewsEachAsync(4_001, 11_000);
        var whole = await RunAndAssertAsync("21,000 review rows");
        Assert.Equal(20_000, whole.Result!.AffectedModels);
    }

    /// <summary>A consumer dropped (a strategy's state forgotten, a consumer removed) takes its sweep plan with it.</summary>
    [Fact]
    public async Task A_dropped_consumer_takes_its_sweep_plan_with_it()
    {
        await ModelsWithAVersionAsync(1, 30, "Pony", metrics: false);
        Db.Options.MaxModelsPerRun = 10;
        var first = await Db.RunAsync();
        Assert.True(first.Result!.BacklogLeft);
        const string Plan = "SELECT count(*) FROM bmm.sweep_plan WHERE consumer = 'setbased'";
        Assert.Equal(30L, await Db.ScalarAsync<long>(Plan));
        await Db.ExecuteAsync("DELETE FROM bmm.consumer WHERE name = 'setbased'");
        Assert.Equal(0L, await Db.ScalarAsync<long>(Plan));
    }

    /// <summary>A backlog of metric deltas, however deep, recomputes only the models it names.</summary>
    [Fact]
    public async Task A_deep_backlog_of_metric_changes_recomputes_only_its_models()
    {
        await ModelsWithAVersionAsync(1, 10, "Pony");
        await RunAndAssertAsync("before the backlog");
        for (var i = 0; i < 30; i++)
            await Db.ExecuteAsync("""UPDATE "ModelVersionMetric" SET "downloadCount" = "downloadCount" + 1 WHERE "modelVersionId" IN (10, 20)""");
        var report = await RunAndAssertAsync("after 60 metric changes of two models");
        Assert.Equal(2, report.Result!.AffectedModels);
    }

    /// <summary>A sweep that fits in one run is not planned.</summary>
    [Fact]
    public async Task A_sweep_within_a_run_s_budget_is_not_planned()
    {
        await Site.Model(1);
        await Site.Version(11, 1, "Pony");
        await Site.Metric(11, 3, 1);
        var report = await RunAndAssertAsync("one model");
        Assert.False(report.Result!.BacklogLeft);
        Assert.Equal(0L, await Db.ScalarAsync<long>("SELECT count(*) FROM bmm.sweep_plan"));
    }

    /// <summary>A window recomputed again (its position put back) finds every row as it should be and writes nothing.</summary>
    [Fact]
    public async Task Replaying_a_window_writes_nothing()
    {
        await Site.Model(1);
        await Site.Model(2);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Version(21, 2, "Pony");
        await Site.Metric(11, 1, 1);
        await RunAndAssertAsync("before the window");
        const string Position = "SELECT xid || ',' || kind::text || ',' || row_id FROM bmm.consumer WHERE name = 'setbased'";
        var before = (await Db.ScalarAsync<string>(Position)).Split(',');
        await Site.Metric(11, 7, 2);
        await Site.Review(1, 21, userId: 4);
        await Site.MoveVersion(21, "Illustrious");
        var window = await RunAndAssertAsync("the window");
        Assert.True(window.Result!.Inserted + window.Result.Updated + window.Result.Deleted > 0);

        await Db.ExecuteAsync($"UPDATE bmm.consumer SET xid = {before[0]}, kind = '{before[1]}', row_id = {before[2]} WHERE name = 'setbased'");
        var replay = await RunAndAssertAsync("the window replayed");
        Assert.Equal(2, replay.Result!.AffectedModels);
        Assert.Equal(0, replay.Result.Inserted + replay.Result.Updated + replay.Result.Deleted);
    }
}
