using Bmm.Capture;
using Bmm.Refresh;
using Bmm.Strategies.Incremental;
using Bmm.Tests.Infrastructure;
using Npgsql;

namespace Bmm.Tests.Incremental;

/// <summary>The incremental strategy by name: after each run the table equals the oracle and the state equals a recomputation.</summary>
public sealed class IncrementalTests : FreshDatabaseTest
{
    private async Task<RunReport> RunAndAssertAsync(string step)
    {
        var report = await Db.RunAsync("incremental");
        Assert.True(report.Outcome == RunOutcome.Succeeded, $"{step}: {report.Outcome} {report.Error}");
        await Db.AssertMatchesOracleAsync(step);
        await Db.AssertIncrementalStateMatchesAsync(step);
        return report;
    }

    private async Task PopulateAsync()
    {
        await Site.Model(1);
        await Site.Model(2);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Version(12, 1, "SDXL 1.0");
        await Site.Version(13, 1, "Pony");
        await Site.Version(21, 2, "Pony");
        await Site.Metric(11, 100, 10);
        await Site.Metric(12, 50, 5);
        await Site.Metric(21, 7, 1);
        await Site.Review(1, 11, userId: 7);
        await Site.Review(2, 12, userId: 7);
        await Site.Review(3, 12, userId: 8);
        await Site.Review(4, 21, userId: 7);
    }

    private Task<int> ThumbsAsync(int model, string baseModel) =>
        Db.ScalarAsync<int>($"""SELECT "thumbsUpCount" FROM "ModelBaseModelMetric" WHERE "modelId" = {model} AND "baseModel" = '{baseModel}'""");

    [Fact]
    public async Task The_first_run_builds_the_state_from_a_snapshot_and_corrects_the_table()
    {
        await PopulateAsync();
        await Db.ExecuteAsync("""UPDATE "ModelBaseModelMetric" SET "downloadCount" = 1 WHERE "modelId" = 1""");
        var report = await RunAndAssertAsync("after the bootstrap");
        Assert.Contains("bootstrap", report.Result!.PhaseSeconds.Keys);
        Assert.Equal(2, await Db.ScalarAsync<int>("SELECT reviews FROM bmm.inc_thumb WHERE model_id = 1 AND base_model = 'SDXL 1.0' AND user_id = 7"));
    }

    [Fact]
    public async Task A_user_with_reviews_on_two_versions_counts_until_both_are_gone()
    {
        await PopulateAsync();
        await RunAndAssertAsync("bootstrap");
        Assert.Equal(2, await ThumbsAsync(1, "SDXL 1.0"));
        await Site.DeleteReview(1);
        await RunAndAssertAsync("one of user 7's reviews deleted");
        Assert.Equal(2, await ThumbsAsync(1, "SDXL 1.0"));
        await Site.UpdateReview(2, recommended: false);
        await RunAndAssertAsync("the other one no longer recommends");
        Assert.Equal(1, await ThumbsAsync(1, "SDXL 1.0"));
    }

    [Fact]
    public async Task A_version_unpublished_takes_its_reviewers_along_and_brings_them_back()
    {
        await PopulateAsync();
        await RunAndAssertAsync("bootstrap");
        await Site.SetVersionStatus(12, "Unpublished");
        await RunAndAssertAsync("unpublished");
        Assert.Equal(1, await ThumbsAsync(1, "SDXL 1.0"));
        await Site.SetVersionStatus(11, "Unpublished");
        await RunAndAssertAsync("the pair's last version unpublished");
        Assert.Equal(0, await Db.ScalarAsync<long>("""SELECT count(*) FROM "ModelBaseModelMetric" WHERE "modelId" = 1 AND "baseModel" = 'SDXL 1.0'"""));
        await Site.SetVersionStatus(12, "Published");
        await RunAndAssertAsync("republished");
        Assert.Equal(2, await ThumbsAsync(1, "SDXL 1.0"));
    }

    [Fact]
    public async Task A_version_moved_to_another_model_and_base_model_moves_its_numbers()
    {
        await PopulateAsync();
        await RunAndAssertAsync("bootstrap");
        await Db.ExecuteAsync("""UPDATE "ModelVersion" SET "modelId" = 2, "baseModel" = 'Pony' WHERE "id" = 12""");
        await RunAndAssertAsync("moved");
        Assert.Equal(2, await ThumbsAsync(2, "Pony"));
        Assert.Equal(57, await Db.ScalarAsync<int>("""SELECT "downloadCount" FROM "ModelBaseModelMetric" WHERE "modelId" = 2"""));
    }

    [Fact]
    public async Task A_review_moved_between_versions_moves_its_user()
    {
        await PopulateAsync();
        await RunAndAssertAsync("bootstrap");
        await Db.ExecuteAsync("""UPDATE "ResourceReview" SET "modelVersionId" = 13 WHERE "id" = 3""");
        await RunAndAssertAsync("moved");
        Assert.Equal(1, await ThumbsAsync(1, "Pony"));
        Assert.Equal(1, await ThumbsAsync(1, "SDXL 1.0"));
    }

    [Fact]
    public async Task A_deleted_model_leaves_no_row_and_no_state()
    {
        await PopulateAsync();
        await RunAndAssertAsync("bootstrap");
        await Site.DeleteModel(1);
        await RunAndAssertAsync("deleted");
        Assert.Equal(0, await Db.ScalarAsync<long>("SELECT count(*) FROM bmm.inc_version WHERE model_id = 1"));
        Assert.Equal(0, await Db.ScalarAsync<long>("SELECT count(*) FROM bmm.inc_thumb WHERE model_id = 1"));
    }

    [Fact]
    public async Task Sums_past_int4_are_kept_aside_unclamped_and_clamped_in_the_table()
    {
        await PopulateAsync();
        await RunAndAssertAsync("bootstrap");
        await Site.Metric(11, int.MaxValue, 1);
        var report = await RunAndAssertAsync("past int4");
        Assert.Equal(1, report.Result!.Clamped);
        Assert.Equal(int.MaxValue + 50L, await Db.ScalarAsync<long>("SELECT downloads FROM bmm.inc_overflow WHERE model_id = 1 AND base_model = 'SDXL 1.0'"));
        await Site.Metric(12, 0, 5);
        await RunAndAssertAsync("back to int4's maximum");
        Assert.Equal(0, await Db.ScalarAsync<long>("SELECT count(*) FROM bmm.inc_overflow"));
        Assert.Equal(int.MaxValue, await Db.ScalarAsync<int>("""SELECT "downloadCount" FROM "ModelBaseModelMetric" WHERE "modelId" = 1 AND "baseModel" = 'SDXL 1.0'"""));
    }

    /// <summary>
    /// Deltas must be applied once: a window applied again (a step retried after its commit, a
    /// second runner) is refused before anything is written, and the table and state stay as they were.
    /// </summary>
    [Fact]
    public async Task Replaying_a_window_already_applied_changes_nothing()
    {
        var ct = TestContext.Current.CancellationToken;
        await PopulateAsync();
        await RunAndAssertAsync("bootstrap");
        await Site.Review(5, 11, userId: 9);
        await Site.Metric(21, 70, 2);
        await Site.SetVersionStatus(13, "Draft");
        await Db.ExecuteAsync("""UPDATE "ResourceReview" SET "modelVersionId" = 21 WHERE "id" = 3""");
        LogPosition before;
        long horizon;
        await using (var connection = await Db.DataSource.OpenConnectionAsync(ct))
        {
            before = (await ChangeLog.ReadConsumerAsync(connection, null, ChangeLog.IncrementalConsumer, ct)).Position;
            horizon = await ChangeLog.ReadHorizonAsync(connection, null, ct);
        }
        await RunAndAssertAsync("changes applied");
        var fingerprint = await FingerprintAsync();

        await using (var connection = await Db.DataSource.OpenConnectionAsync(ct))
        await using (var transaction = await connection.BeginTransactionAsync(ct))
        {
            var refused = await Assert.ThrowsAsync<PostgresException>(() => IncrementalState.ApplyAsync(connection, transaction, before, horizon, 1000, 0, ct));
            Assert.Equal(PostgresErrorCodes.ObjectNotInPrerequisiteState, refused.SqlState);
        }
        Assert.Equal(fingerprint, await FingerprintAsync());
        var again = await RunAndAssertAsync("a run after the refused replay");
        Assert.Equal(0, again.Result!.Inserted + again.Result.Updated + again.Result.Deleted);
        Assert.Equal(fingerprint, await FingerprintAsync());
    }

    /// <summary>The table, the state and the position, as one string.</summary>
    private Task<string> FingerprintAsync() => Db.ScalarAsync<string>("""
        SELECT md5(concat_ws('|',
            (SELECT string_agg(t::text, ',' ORDER BY t."modelId", t."baseModel") FROM "ModelBaseModelMetric" t),
            (SELECT string_agg(v::text, ',' ORDER BY v.version_id) FROM bmm.inc_version v),
            (SELECT string_agg(r::text, ',' ORDER BY r.review_id) FROM bmm.inc_review r),
            (SELECT string_agg(h::text, ',' ORDER BY h.model_id, h.base_model, h.user_id) FROM bmm.inc_thumb h),
            (SELECT xid || kind::text || row_id FROM bmm.consumer WHERE name = 'incremental')))
        """);

    [Fact]
    public async Task A_late_commit_below_the_position_is_applied_and_a_rollback_leaves_nothing()
    {
        await PopulateAsync();
        await RunAndAssertAsync("bootstrap");
        var ct = TestContext.Current.CancellationToken;
        await using var late = await Db.DataSource.OpenConnectionAsync(ct);
        await using var lateTransaction = await late.BeginTransactionAsync(ct);
        await new NpgsqlCommand("""INSERT INTO "ResourceReview" ("id", "modelId", "modelVersionId", "userId", "rating") VALUES (6, 2, 21, 20, 5)""", late, lateTransaction).ExecuteNonQueryAsync(ct);
        await using (var rolledBack = await Db.DataSource.OpenConnectionAsync(ct))
        await using (var transaction = await rolledBack.BeginTransactionAsync(ct))
        {
            await new NpgsqlCommand("""DELETE FROM "ResourceReview" WHERE "id" = 4""", rolledBack, transaction).ExecuteNonQueryAsync(ct);
            await transaction.RollbackAsync(ct);
        }
        await Site.Review(7, 21, userId: 21);
        await Db.RunAsync("incremental");
        await lateTransaction.CommitAsync(ct);
        await RunAndAssertAsync("after the late commit");
        Assert.Equal(3, await ThumbsAsync(2, "Pony"));
    }

    /// <summary>
    /// A transaction that is still running holds the horizon back, and with it every transaction
    /// that commits after it started. Those are applied at once (their metric deltas, a version
    /// moved, a review), so that one long transaction does not hold the table back for as long as
    /// it runs; and not again once it commits and the horizon passes them, while the older
    /// transaction's own change, to a version moved meanwhile, goes where that version counts now.
    /// </summary>
    [Fact]
    public async Task Commits_behind_a_running_older_transaction_are_applied_at_once_and_only_once()
    {
        var ct = TestContext.Current.CancellationToken;
        await PopulateAsync();
        await RunAndAssertAsync("bootstrap");
        await using var olderConnection = await Db.DataSource.OpenConnectionAsync(ct);
        await using var older = await olderConnection.BeginTransactionAsync(ct);
        await new NpgsqlCommand("""UPDATE "ModelVersionMetric" SET "downloadCount" = "downloadCount" + 1000 WHERE "modelVersionId" = 12""",
            olderConnection, older).ExecuteNonQueryAsync(ct);

        await Site.Metric(21, 70, 2);
        await Db.ExecuteAsync("""UPDATE "ModelVersion" SET "modelId" = 2, "baseModel" = 'Pony' WHERE "id" = 12""");
        await Site.Review(5, 21, userId: 9);
        var ahead = await RunAndAssertAsync("the later commits, with the older transaction still open");
        Assert.Equal("120 7 3", await Db.ScalarAsync<string>("""
            SELECT concat_ws(' ', "downloadCount", "imageCount", "thumbsUpCount") FROM "ModelBaseModelMetric" WHERE "modelId" = 2 AND "baseModel" = 'Pony'
            """));
        Assert.True(ahead.Result!.Updated > 0);
        // Applied is not pending: status, the lag gauge and /health see nothing waiting.
        var state = await JobControl.ReadStateAsync(Db.DataSource, ChangeLog.IncrementalConsumer, ct);
        Assert.Equal((0L, 0.0), (state.PendingChanges, state.LagSeconds));
        Assert.Equal(0, (await ChangeLog.ReadConsumersAsync(Db.DataSource, ct)).Single(c => c.Name == ChangeLog.IncrementalConsumer).Pending);

        var fingerprint = await FingerprintAsync();
        var quiet = await RunAndAssertAsync("again, the older transaction still open");
        Assert.Equal(0, quiet.Result!.Batches);
        Assert.Equal(fingerprint, await FingerprintAsync());

        await older.CommitAsync(ct);
        await RunAndAssertAsync("after the older transaction committed");
        Assert.Equal("1120 7 3", await Db.ScalarAsync<string>("""
            SELECT concat_ws(' ', "downloadCount", "imageCount", "thumbsUpCount") FROM "ModelBaseModelMetric" WHERE "modelId" = 2 AND "baseModel" = 'Pony'
            """));
        var settled = await RunAndAssertAsync("once more");
        Assert.Equal(0, settled.Result!.Inserted + settled.Result.Updated + settled.Result.Deleted);
    }

    [Fact]
    public async Task A_queued_model_is_rederived_state_included()
    {
        await PopulateAsync();
        await RunAndAssertAsync("bootstrap");
        await Db.ExecuteAsync("""UPDATE "ModelBaseModelMetric" SET "thumbsUpCount" = 40, "downloadCount" = 1 WHERE "modelId" = 1""");
        await Db.ExecuteAsync("DELETE FROM bmm.inc_thumb WHERE model_id = 1 AND user_id = 8");
        await Db.ExecuteAsync("INSERT INTO bmm.model_queue (model_id) VALUES (1)");
        await RunAndAssertAsync("after the queued repair");
    }

    [Fact]
    public async Task A_run_with_nothing_pending_writes_nothing()
    {
        await PopulateAsync();
        await RunAndAssertAsync("bootstrap");
        await Db.RunAsync("incremental");
        const string Position = "SELECT xid || '/' || kind::text || '/' || row_id || '/' || updated_at FROM bmm.consumer WHERE name = 'incremental'";
        var position = await Db.ScalarAsync<string>(Position);
        var quiet = await RunAndAssertAsync("quiet");
        Assert.Equal(0, quiet.Result!.Batches);
        Assert.Equal(position, await Db.ScalarAsync<string>(Position));
    }

    [Fact]
    public async Task A_step_cut_inside_one_transactions_rows_of_a_model_reads_them_all()
    {
        await PopulateAsync();
        await RunAndAssertAsync("bootstrap");
        await Db.ExecuteAsync("""
            INSERT INTO "ResourceReview" ("id", "modelId", "modelVersionId", "userId", "rating")
            VALUES (10, 1, 11, 30, 5), (11, 1, 12, 31, 5), (12, 1, 13, 32, 5)
            """);
        Db.Options.IncrementalBatchRows = 1;
        await RunAndAssertAsync("after one-row steps");
        Assert.Equal(4, await ThumbsAsync(1, "SDXL 1.0"));
        Assert.Equal(1, await ThumbsAsync(1, "Pony"));
    }

    private Task<long> PendingAsync() => Db.ScalarAsync<long>("""
        SELECT count(*) FROM bmm.change_log l, bmm.consumer c
        WHERE c.name = 'incremental' AND (l.xid, l.kind, l.row_id) > (c.xid, c.kind, c.row_id)
        """);

    /// <summary>Loads 300 models from <paramref name="first"/> as the site's writers would, a transaction per table.</summary>
    private async Task BulkLoadAsync(int first)
    {
        await Db.ExecuteAsync($"""
            INSERT INTO "Model" ("id", "name", "userId", "status") SELECT m, 'm', 1, 'Published' FROM generate_series({first}, {first + 299}) m;
            """);
        await Db.ExecuteAsync($"""
            INSERT INTO "ModelVersion" ("id", "modelId", "name", "baseModel", "status")
            SELECT 10 * m + b, m, 'v', (ARRAY['SDXL 1.0', 'Pony'])[b], 'Published' FROM generate_series({first}, {first + 299}) m, generate_series(1, 2) b;
            """);
        await Db.ExecuteAsync($"""
            INSERT INTO "ModelVersionMetric" ("modelVersionId", "downloadCount", "imageCount")
            SELECT "id", "id" % 97, 1 FROM "ModelVersion" WHERE "modelId" BETWEEN {first} AND {first + 299};
            """);
        await Db.ExecuteAsync($"""
            INSERT INTO "ResourceReview" ("id", "modelId", "modelVersionId", "userId", "rating")
            SELECT 10 * v."id" + u, v."modelId", v."id", u, 5 FROM "ModelVersion" v, generate_series(1, 3) u
            WHERE v."modelId" BETWEEN {first} AND {first + 299};
            """);
    }

    /// <summary>
    /// A backlog larger than Job:IncrementalRebuildRows (and than a step) is not applied row by
    /// row: the state is rebuilt from a snapshot. One between a step and that threshold is applied
    /// in steps, as before.
    /// </summary>
    [Fact]
    public async Task A_backlog_above_the_rebuild_threshold_rebuilds_the_state_and_one_below_is_applied_in_steps()
    {
        await PopulateAsync();
        await RunAndAssertAsync("bootstrap");

        await BulkLoadAsync(100);
        var pending = await PendingAsync();
        Db.Options.IncrementalBatchRows = (int)(pending / 4);
        Db.Options.IncrementalRebuildRows = (int)pending + 1;
        var applied = await RunAndAssertAsync("a backlog below the threshold");
        Assert.DoesNotContain("bootstrap", applied.Result!.PhaseSeconds.Keys);
        Assert.True(applied.Result.Batches >= 4, $"{applied.Result.Batches} steps");

        // A load's review and version rows, more than a step and the threshold: counted before any
        // step is read.
        await AssertRebuiltAsync(() => BulkLoadAsync(1000), 10 * 1000 + 1, stepOfPending: 2, thresholdOfPending: 4);
        await AssertRebuiltAsync(() => BulkLoadAsync(2000), 10 * 2000 + 1, stepOfPending: 4, thresholdOfPending: 2);
        // Metric deltas: known from the step's own read when a step is longer than the threshold,
        // counted past the step when it is shorter.
        await AssertRebuiltAsync(MetricsAgainAsync, 10 * 100 + 1, stepOfPending: 2, thresholdOfPending: 4);
        await AssertRebuiltAsync(MetricsAgainAsync, 10 * 100 + 1, stepOfPending: 4, thresholdOfPending: 2);
    }

    /// <summary>Every metric row changed four times, in four transactions: a backlog of metric deltas only.</summary>
    private async Task MetricsAgainAsync()
    {
        for (var i = 0; i < 4; i++)
            await Db.ExecuteAsync("""UPDATE "ModelVersionMetric" SET "downloadCount" = "downloadCount" + 1""");
    }

    private async Task AssertRebuiltAsync(Func<Task> load, int versionAfter, int stepOfPending, int thresholdOfPending)
    {
        // A transaction left open in another database of the cluster: the rebuild's snapshot then
        // starts before the bulk load, whose rows stay past the position although the rebuilt
        // state holds them (they once made every later step rebuild again, for as long as that
        // transaction ran).
        var ct = TestContext.Current.CancellationToken;
        await using var elsewhere = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(Db.ConnectionString) { Database = "postgres" }.ConnectionString);
        await elsewhere.OpenAsync(ct);
        await using var open = await elsewhere.BeginTransactionAsync(ct);
        await using (var xid = new NpgsqlCommand("SELECT txid_current()", elsewhere, open))
            await xid.ExecuteScalarAsync(ct);
        await load();
        var pending = await PendingAsync();
        Db.Options.IncrementalBatchRows = (int)(pending / stepOfPending);
        Db.Options.IncrementalRebuildRows = (int)(pending / thresholdOfPending);
        var rebuilt = await RunAndAssertAsync($"a backlog of {pending} rows, steps of {Db.Options.IncrementalBatchRows}, rebuilt above {Db.Options.IncrementalRebuildRows}");
        Assert.Contains("bootstrap", rebuilt.Result!.PhaseSeconds.Keys);
        // One rebuild writes every model once; the rows past its snapshot's start (held back by the
        // open transaction, and by whatever else runs in the cluster) are then applied again, which
        // moves nothing and names each model a few times at most. Rebuilding again and again ran
        // to the run's model budget (200,000).
        var models = await Db.ScalarAsync<long>("""SELECT count(*) FROM "Model" """);
        Assert.InRange(rebuilt.Result.AffectedModels, models, 5 * models);
        Assert.Equal(0L, await PendingAsync());
        await Site.Metric(versionAfter, 1000, 1);
        var after = await RunAndAssertAsync("a change after the rebuild");
        Assert.DoesNotContain("bootstrap", after.Result!.PhaseSeconds.Keys);
    }

    /// <summary>Found by the generated invariant: the site's publish trigger inserts a row the state never held.</summary>
    [Fact]
    public async Task A_version_moved_to_a_new_base_model_then_deleted_with_its_model_before_the_run_leaves_no_row()
    {
        await PopulateAsync();
        await RunAndAssertAsync("bootstrap");
        await Site.MoveVersion(11, "Illustrious");
        Assert.Equal(1, await Db.ScalarAsync<long>("""SELECT count(*) FROM "ModelBaseModelMetric" WHERE "modelId" = 1 AND "baseModel" = 'Illustrious'"""));
        await Site.DeleteModel(1);
        await RunAndAssertAsync("after the run");
    }
}
