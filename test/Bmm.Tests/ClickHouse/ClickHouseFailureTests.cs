using Bmm.ClickHouse;
using Bmm.Database;
using Bmm.Refresh;
using Bmm.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Bmm.Tests.ClickHouse;

/// <summary>
/// What the clickhouse strategy promises when things go wrong: a batch is one PostgreSQL
/// transaction whose ClickHouse writes a replay repeats harmlessly, so a failure anywhere leaves
/// the table and the position as the last committed batch left them, and the next run resumes.
/// </summary>
public sealed class ClickHouseFailureTests : FreshDatabaseTest
{
    private const string Position = "SELECT xid || '/' || kind::text || '/' || row_id FROM bmm.consumer WHERE name = 'clickhouse'";

    private const string TableFingerprint = """
        SELECT coalesce(string_agg(t::text, ';' ORDER BY "modelId", "baseModel"), '') FROM (
            SELECT "modelId", "baseModel", "thumbsUpCount", "downloadCount", "imageCount" FROM "ModelBaseModelMetric") t
        """;

    private async Task SeedAsync(int models)
    {
        for (var model = 1; model <= models; model++)
        {
            await Site.Model(model);
            await Site.Version(model * 10, model, "SDXL 1.0");
            await Site.Metric(model * 10, model, 1);
            await Site.Review(model * 100, model * 10, model);
        }
    }

    private async Task<RunReport> RunAsync(string step, bool succeed = true)
    {
        var report = await Db.RunAsync("clickhouse");
        if (succeed) Assert.True(report.Outcome == RunOutcome.Succeeded, $"{step}: {report.Outcome} {report.Error}");
        return report;
    }

    [Fact]
    public async Task A_window_replayed_writes_nothing_and_the_table_stays_equal_to_the_oracle()
    {
        await SeedAsync(4);
        await RunAsync("first");
        var before = await Db.ScalarAsync<string>(Position);
        await Site.Metric(10, 50, 5);
        await Site.MoveVersion(20, "Pony");
        await Site.Review(101, 10, 7);
        await Site.DeleteReview(300);
        await RunAsync("the window");
        await Db.AssertMatchesOracleAsync("after the window");

        await Db.ExecuteAsync($"UPDATE bmm.consumer SET (xid, kind, row_id) = (split_part('{before}', '/', 1)::bigint, split_part('{before}', '/', 2)::\"char\", split_part('{before}', '/', 3)::int) WHERE name = 'clickhouse'");
        var replay = await RunAsync("the replay");
        Assert.True(replay.Result!.AffectedModels > 0, "the replay read the window again");
        Assert.Equal(0, replay.Result.Inserted + replay.Result.Updated + replay.Result.Deleted);
        await Db.AssertMatchesOracleAsync("after the replay");
    }

    [Fact]
    public async Task A_batch_that_fails_after_writing_to_ClickHouse_leaves_table_and_position_and_is_replayed()
    {
        await SeedAsync(3);
        await RunAsync("first");
        for (var model = 1; model <= 3; model++) await Site.Metric(model * 10, 100 + model, 2);
        var position = await Db.ScalarAsync<string>(Position);
        var table = await Db.ScalarAsync<string>(TableFingerprint);

        // The mirroring batch has written ClickHouse when it records model 3 as pending, which an
        // open transaction holds: it times out, and its PostgreSQL transaction rolls back.
        Db.Options.LockTimeoutSeconds = 1;
        Db.Options.MaxAttempts = 1;
        await using (var connection = await Db.DataSource.OpenConnectionAsync(TestContext.Current.CancellationToken))
        await using (var transaction = await connection.BeginTransactionAsync(TestContext.Current.CancellationToken))
        {
            await using (var hold = new NpgsqlCommand("INSERT INTO bmm.clickhouse_pending VALUES (3, false)", connection, transaction))
                await hold.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
            var failed = await RunAsync("while the row is held", succeed: false);
            Assert.Equal(RunOutcome.Failed, failed.Outcome);
            Assert.Equal(position, await Db.ScalarAsync<string>(Position));
            Assert.Equal(table, await Db.ScalarAsync<string>(TableFingerprint));
        }
        Assert.Equal(0L, await Db.ScalarAsync<long>("SELECT count(*) FROM bmm.clickhouse_pending"));
        await RunAsync("after the row is released");
        await Db.AssertMatchesOracleAsync("after the replay");
    }

    [Fact]
    public async Task ClickHouse_stopped_in_the_middle_of_a_run_fails_it_with_one_error_and_the_next_run_resumes()
    {
        var ct = TestContext.Current.CancellationToken;
        var folder = Path.Combine(Path.GetTempPath(), "bmm-ch-restart-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var options = await EmbeddedClickHouse.EnsureAsync(folder, NullLogger.Instance, ct);
            options.Database = Db.Name;
            options.BatchRows = 1;
            Db.ClickHouse = new ClickHouseMirror(new ClickHouseClient(options), NullLogger.Instance);
            await SeedAsync(3);
            await RunAsync("first");
            for (var model = 1; model <= 3; model++) await Site.Metric(model * 10, 100 + model, 2);

            // The run has mirrored the three changes and writes the models one per transaction: the
            // second (model 2) has computed its pairs in ClickHouse and waits on model 2's row;
            // ClickHouse stops meanwhile, so that one commits and the third cannot reach it.
            Db.Options.LockTimeoutSeconds = 60;
            Db.Options.BatchSize = 1;
            Task<RunReport> run;
            await using (var connection = await Db.DataSource.OpenConnectionAsync(ct))
            await using (var transaction = await connection.BeginTransactionAsync(ct))
            {
                await using (var hold = new NpgsqlCommand("""SELECT 1 FROM "ModelBaseModelMetric" WHERE "modelId" = 2 FOR UPDATE""", connection, transaction))
                    await hold.ExecuteNonQueryAsync(ct);
                run = Db.RunAsync("clickhouse");
                await Hardening.RowHeldBySite.UntilARunWaitsAsync(Db, () => run.IsCompleted);
                await EmbeddedClickHouse.StopAsync(folder, EmbeddedClickHouse.ServerFolder, NullLogger.Instance, ct);
            }
            var failed = await run;
            Assert.Equal(RunOutcome.Failed, failed.Outcome);
            var error = Assert.IsType<ClickHouseException>(failed.Error);
            Assert.Contains("could not be reached", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain('\n', error.Message);
            Assert.Equal(2, failed.Result!.Batches);
            Assert.Equal(101, await Db.ScalarAsync<int>("""SELECT "downloadCount" FROM "ModelBaseModelMetric" WHERE "modelId" = 1"""));
            Assert.Equal(102, await Db.ScalarAsync<int>("""SELECT "downloadCount" FROM "ModelBaseModelMetric" WHERE "modelId" = 2"""));
            Assert.Equal(3, await Db.ScalarAsync<int>("""SELECT "downloadCount" FROM "ModelBaseModelMetric" WHERE "modelId" = 3"""));
            Assert.Equal("3", await Db.ScalarAsync<string>("SELECT string_agg(model_id::text, ',') FROM bmm.clickhouse_pending"));

            await EmbeddedClickHouse.EnsureAsync(folder, NullLogger.Instance, ct);
            await RunAsync("after ClickHouse is back");
            await Db.AssertMatchesOracleAsync("after ClickHouse is back");
        }
        finally
        {
            await EmbeddedClickHouse.StopAsync(folder, EmbeddedClickHouse.ServerFolder, NullLogger.Instance, CancellationToken.None);
            Db.ClickHouse = null;
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>A metric, a version unpublished and a new review: changes made while the mirror is gone.</summary>
    private async Task ChangeWhileAwayAsync()
    {
        await Site.Metric(10, 70, 7);
        await Site.SetVersionStatus(20, "Unpublished");
        await Site.Review(301, 30, 9);
    }

    [Fact]
    public async Task Data_ClickHouse_lost_is_loaded_again_without_losing_a_change()
    {
        await SeedAsync(3);
        await RunAsync("first");
        await Db.ClickHouse!.Client.ExecuteAsync($"DROP DATABASE {Db.Name}", TestContext.Current.CancellationToken);
        await ChangeWhileAwayAsync();
        await RunAsync("after the loss");
        await Db.AssertMatchesOracleAsync("after the loss");
        await Site.Metric(30, 80, 8);
        await RunAsync("after the reload");
        await Db.AssertMatchesOracleAsync("after the reload");
    }

    /// <summary>
    /// The same where clickhouse is the only consumer: the load's snapshot holds the changes made
    /// since the last run, but the table does not, so the consumer stays where it was rather than
    /// moving to the snapshot (with no other consumer behind it to hold it back).
    /// </summary>
    [Fact]
    public async Task Data_ClickHouse_lost_with_changes_waiting_is_loaded_again_and_the_changes_still_reach_the_table()
    {
        await SeedAsync(3);
        await RunAsync("first");
        await Db.ExecuteAsync("DELETE FROM bmm.consumer WHERE name <> 'clickhouse'");
        await Db.ClickHouse!.Client.ExecuteAsync($"DROP DATABASE {Db.Name}", TestContext.Current.CancellationToken);
        await ChangeWhileAwayAsync();
        await RunAsync("after the loss");
        await Db.AssertMatchesOracleAsync("after the loss");
    }

    [Fact]
    public async Task A_repair_fixes_the_table_at_once_and_the_mirror_on_the_next_run()
    {
        var ct = TestContext.Current.CancellationToken;
        await SeedAsync(3);
        await RunAsync("first");
        // Drift in both: model 1's row of the table, and a version that does not exist counted at model 1 in the mirror.
        await Db.ExecuteAsync("""UPDATE "ModelBaseModelMetric" SET "downloadCount" = 999 WHERE "modelId" = 1""");
        await Db.ClickHouse!.Client.InsertTsvAsync($"{Db.Name}.versions", ClickHouseSql.VersionColumns,
            stream => stream.WriteAsync("1\t999\tSDXL 1.0\t999\t0\t0\t1\n"u8.ToArray(), ct).AsTask(), ct);

        var report = await Bmm.Oracle.Verifier.VerifyAsync(Db.DataSource, Bmm.Strategies.StrategyCatalog.Create("clickhouse"), Db.Options, NullLogger.Instance, Db.Metrics, ct);
        Assert.Equal(1, report.Wrong);
        Assert.Equal(1, report.Repaired);
        await Db.AssertMatchesOracleAsync("after the repair");
        Assert.Equal(1L, await Db.ScalarAsync<long>("SELECT count(*) FROM bmm.model_queue WHERE model_id = 1"));

        // The run takes the queue first and mirrors model 1 again: the version that does not exist stops counting.
        await RunAsync("after the repair");
        await Site.Metric(10, 55, 1);
        await RunAsync("after a change of model 1");
        await Db.AssertMatchesOracleAsync("after a change of model 1");
    }

    [Fact]
    public async Task Base_model_names_that_need_escaping_survive_the_load_and_the_batches()
    {
        string[] names = ["O'Brien \"XL\"", @"back\slash\", "tab\there", "line\nbreak", "cr\rhere", "emoji 🎨✨", @"\N", "vt\vff\f", "", "a\\'b"];
        for (var i = 0; i < names.Length; i++)
        {
            await Site.Model(i + 1);
            await Site.Version(i + 1, i + 1, names[i]);
            await Site.Metric(i + 1, 10 + i, 1);
            await Site.Review(i + 1, i + 1, 5);
        }
        await RunAsync("the load");
        await Db.AssertMatchesOracleAsync("after the load");
        for (var i = 0; i < names.Length; i++)
        {
            await Site.Version(100 + i, names.Length - i, names[i]);
            await Site.Metric(100 + i, 3, 3);
            await Site.Review(100 + i, 100 + i, 6);
        }
        await RunAsync("the batches");
        await Db.AssertMatchesOracleAsync("after the batches");
    }
}
