using Bmm.Refresh;
using Bmm.Tests.Infrastructure;
using Npgsql;

namespace Bmm.Tests.Runner;

/// <summary>The guarantees of a run: late commits, one runner at a time, pause, big queues, failures mid-run.</summary>
public sealed class RunnerTests : FreshDatabaseTest
{
    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        await Site.Model(1);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Metric(11, 1, 1);
        Assert.Equal(RunOutcome.Succeeded, (await Db.RunAsync()).Outcome);
    }

    private Task<string> PositionAsync() => Db.ScalarAsync<string>("SELECT xid || '/' || kind::text || '/' || row_id FROM bmm.consumer WHERE name = 'setbased'");

    /// <summary>The last model of the sweep in progress that a committed batch recomputed, or -1.</summary>
    private Task<int> SweepModelAsync() => Db.ScalarAsync<int>("SELECT coalesce(sweep_model, -1) FROM bmm.consumer WHERE name = 'setbased'");

    [Fact]
    public async Task A_late_commit_is_picked_up_by_the_next_run()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var writer = await Db.DataSource.OpenConnectionAsync(ct);
        await using var transaction = await writer.BeginTransactionAsync(ct);
        await using (var stamp = new NpgsqlCommand("""UPDATE "ModelVersionMetric" SET "downloadCount" = 500, "updatedAt" = now() - interval '10 minutes' WHERE "modelVersionId" = 11""", writer, transaction))
            await stamp.ExecuteNonQueryAsync(ct);
        // A change committed after the late writer started must not carry the position past it.
        await Site.Version(12, 1, "Pony");
        await Site.Metric(12, 7, 7);

        var during = await Db.RunAsync();
        Assert.Equal(RunOutcome.Succeeded, during.Outcome);
        Assert.Equal(1, await Db.ScalarAsync<int>("""SELECT "downloadCount" FROM "ModelBaseModelMetric" WHERE "modelId" = 1 AND "baseModel" = 'SDXL 1.0'"""));

        await transaction.CommitAsync(ct);
        var after = await Db.RunAsync();
        Assert.Equal(RunOutcome.Succeeded, after.Outcome);
        await Db.AssertMatchesOracleAsync("after the late commit");
        Assert.Equal(500, await Db.ScalarAsync<int>("""SELECT "downloadCount" FROM "ModelBaseModelMetric" WHERE "modelId" = 1 AND "baseModel" = 'SDXL 1.0'"""));
    }

    /// <summary>Only this database's transactions hold the change-log horizon back.</summary>
    [Fact]
    public async Task A_transaction_open_in_another_database_neither_holds_back_nor_breaks_the_run()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var other = NpgsqlDataSource.Create(await TestServer.AdminConnectionStringAsync(ct));
        await using var before = await OpenTransactionWithXidAsync(other, ct);
        await Site.Metric(11, 77, 7);
        await using var after = await OpenTransactionWithXidAsync(other, ct);

        var report = await Db.RunAsync();
        Assert.Equal(1, report.Result!.AffectedModels);
        await Db.AssertMatchesOracleAsync();
    }

    private static async Task<NpgsqlConnection> OpenTransactionWithXidAsync(NpgsqlDataSource dataSource, CancellationToken ct)
    {
        var connection = await dataSource.OpenConnectionAsync(ct);
        await using var takeXid = new NpgsqlCommand("BEGIN; SELECT pg_current_xact_id();", connection);
        await takeXid.ExecuteScalarAsync(ct);
        return connection;
    }

    /// <summary>
    /// Found by the generated invariant under parallel load: a running transaction id may lie
    /// above the snapshot's xmax (the run's own, for one), and widening it against xmax wrapped
    /// to a negative horizon, so that a run read nothing. Widening works in both directions.
    /// </summary>
    [Theory]
    [InlineData(16818L, 16819L)]
    [InlineData(16818L, 16000L)]
    [InlineData((5L << 32) + 10, (5L << 32) - 20)]
    [InlineData((5L << 32) - 10, (5L << 32) + 20)]
    [InlineData(4294967296L, 4294967295L)]
    public async Task A_32_bit_xid_widens_to_the_nearest_64_bit_value_above_or_below_the_reference(long reference, long full)
    {
        await using var command = Db.DataSource.CreateCommand("SELECT bmm.widen_xid(@xid32, @reference)");
        command.Parameters.AddWithValue("xid32", full % 4294967296L);
        command.Parameters.AddWithValue("reference", reference);
        Assert.Equal(full, (long)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!);
    }

    [Fact]
    public async Task A_rolled_back_writer_leaves_nothing_to_apply()
    {
        var ct = TestContext.Current.CancellationToken;
        await using (var writer = await Db.DataSource.OpenConnectionAsync(ct))
        await using (var transaction = await writer.BeginTransactionAsync(ct))
        {
            await using var stamp = new NpgsqlCommand("""UPDATE "ModelVersionMetric" SET "downloadCount" = 999 WHERE "modelVersionId" = 11""", writer, transaction);
            await stamp.ExecuteNonQueryAsync(ct);
            await transaction.RollbackAsync(ct);
        }
        var report = await Db.RunAsync();
        Assert.Equal(0, report.Result!.AffectedModels);
        await Db.AssertMatchesOracleAsync();
    }

    [Fact]
    public async Task Two_runners_at_once_one_works_and_the_other_skips()
    {
        var ct = TestContext.Current.CancellationToken;
        await Site.Metric(11, 2, 2);
        await using (var held = await RunnerLock.TryAcquireAsync(Db.DataSource, ct))
        {
            Assert.NotNull(held);
            Assert.Null(await RunnerLock.TryAcquireAsync(Db.DataSource, ct));
            Assert.Equal(RunOutcome.SkippedLocked, (await Db.RunAsync()).Outcome);
            Assert.Equal(RunOutcome.SkippedLocked, (await Db.RunAsync("phase1")).Outcome);
            Assert.Equal(RunOutcome.SkippedLocked, (await Db.RunAsync("sequential")).Outcome);
        }
        var runs = await Task.WhenAll(Db.RunAsync(), Db.RunAsync());
        Assert.Contains(runs, r => r.Outcome == RunOutcome.Succeeded);
        Assert.All(runs, r => Assert.True(r.Outcome is RunOutcome.Succeeded or RunOutcome.SkippedLocked));
        await Db.AssertMatchesOracleAsync();
    }

    [Fact]
    public async Task Pause_stops_work_until_resume()
    {
        var ct = TestContext.Current.CancellationToken;
        await Site.Metric(11, 3, 3);
        await JobControl.SetPausedAsync(Db.DataSource, true, ct);
        Assert.Equal(RunOutcome.SkippedPaused, (await Db.RunAsync()).Outcome);
        Assert.Equal(1, await Db.ScalarAsync<int>("""SELECT "downloadCount" FROM "ModelBaseModelMetric" WHERE "modelId" = 1"""));
        await JobControl.SetPausedAsync(Db.DataSource, false, ct);
        Assert.Equal(RunOutcome.Succeeded, (await Db.RunAsync()).Outcome);
        await Db.AssertMatchesOracleAsync();
    }

    [Fact]
    public async Task A_queue_of_100000_ids_works()
    {
        var ct = TestContext.Current.CancellationToken;
        Db.Options.BatchSize = 5_000;
        await Db.ExecuteAsync("""UPDATE "ModelBaseModelMetric" SET "thumbsUpCount" = 42""");
        var ids = Enumerable.Range(1, 100_000).ToArray();
        Assert.Equal(100_000, await JobControl.EnqueueAsync(Db.DataSource, ids, ct));
        var report = await Db.RunAsync();
        Assert.Equal(RunOutcome.Succeeded, report.Outcome);
        Assert.Equal(100_000, report.Result!.AffectedModels);
        Assert.Equal(0L, await Db.ScalarAsync<long>("SELECT count(*) FROM bmm.model_queue"));
        await Db.AssertMatchesOracleAsync();
    }

    [Fact]
    public async Task A_run_over_budget_carries_the_rest_to_the_next_run()
    {
        // One sweep holds every change; the run stops at its model budget, in model order.
        Db.Options.BatchSize = 10;
        Db.Options.MaxModelsPerRun = 25;
        for (var m = 2; m <= 60; m++)
        {
            await Site.Model(m);
            await Site.Version(m * 100, m, "Pony");
        }
        var first = await Db.RunAsync();
        Assert.True(first.Result!.BacklogLeft);
        Assert.Equal(25, first.Result.AffectedModels);
        RunReport next;
        var runs = 1;
        do
        {
            next = await Db.RunAsync();
            runs++;
        } while (next.Result!.BacklogLeft && runs < 10);
        Assert.False(next.Result.BacklogLeft);
        await Db.AssertMatchesOracleAsync();
    }

    [Fact]
    public async Task A_connection_dropped_mid_run_keeps_the_position_and_the_next_run_succeeds()
    {
        var ct = TestContext.Current.CancellationToken;
        for (var m = 2; m <= 30; m++)
        {
            await Site.Model(m);
            await Site.Version(m * 100, m, "Pony");
            await Site.Metric(m * 100, 1, 1);
        }
        await Db.RunAsync();
        // One sweep of 30 models (1 to 30) in batches of 10: the run stops in its third batch.
        Db.Options.BatchSize = 10;
        for (var m = 2; m <= 30; m++) await Site.Metric(m * 100, 9, 9);
        await Site.Metric(11, 9, 9);
        var before = await PositionAsync();

        // Hold a row the run must update, so the run waits on it; then kill the run's backend.
        await using var blocker = await Db.DataSource.OpenConnectionAsync(ct);
        await using var blocking = await blocker.BeginTransactionAsync(ct);
        await using (var lockRow = new NpgsqlCommand("""SELECT 1 FROM "ModelBaseModelMetric" WHERE "modelId" = 25 FOR UPDATE""", blocker, blocking))
            await lockRow.ExecuteNonQueryAsync(ct);
        var run = Db.RunAsync();
        await using (var kill = Db.DataSource.CreateCommand("""
            SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock'
            """))
        {
            var killed = 0L;
            for (var i = 0; i < 100 && killed == 0; i++)
            {
                await Task.Delay(50, ct);
                killed = (long)(await kill.ExecuteScalarAsync(ct))!;
            }
            Assert.True(killed == 1, await ActivityAsync());
        }
        var failed = await run;
        Assert.True(failed.Outcome == RunOutcome.Failed, $"{failed.Outcome}: {failed.Error}");
        Assert.Equal(RunOutcome.Failed, failed.Outcome);
        // The position stays before the sweep; the sweep records the two batches committed, and
        // the next run redoes only the third.
        Assert.Equal(before, await PositionAsync());
        Assert.Equal(20, await SweepModelAsync());
        await blocking.RollbackAsync(ct);

        var retry = await Db.RunAsync();
        Assert.Equal(RunOutcome.Succeeded, retry.Outcome);
        Assert.Equal(10, retry.Result!.AffectedModels);
        Assert.Equal(-1, await SweepModelAsync());
        await Db.AssertMatchesOracleAsync("after the retry");
        Assert.Equal(9, await Db.ScalarAsync<int>("""SELECT "downloadCount" FROM "ModelBaseModelMetric" WHERE "modelId" = 1"""));
    }

    [Fact]
    public async Task A_run_stopped_from_outside_is_recorded_as_cancelled()
    {
        var ct = TestContext.Current.CancellationToken;
        await Site.Metric(11, 5, 5);
        var before = await PositionAsync();
        await using var blocker = await Db.DataSource.OpenConnectionAsync(ct);
        await using var blocking = await blocker.BeginTransactionAsync(ct);
        await using (var lockRow = new NpgsqlCommand("""SELECT 1 FROM "ModelBaseModelMetric" WHERE "modelId" = 1 FOR UPDATE""", blocker, blocking))
            await lockRow.ExecuteNonQueryAsync(ct);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stop.CancelAfter(TimeSpan.FromSeconds(1));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Db.Runner().RunOnceAsync(new Bmm.Strategies.SetBased.SetBasedStrategy(), stop.Token));
        Assert.Equal("cancelled", await Db.ScalarAsync<string>("SELECT outcome FROM bmm.run_history ORDER BY id DESC LIMIT 1"));
        Assert.Equal(before, await PositionAsync());
    }

    private async Task<string> ActivityAsync()
    {
        await using var command = Db.DataSource.CreateCommand("SELECT string_agg(coalesce(wait_event_type, '-') || ' ' || state || ' ' || left(query, 60), E'\n') FROM pg_stat_activity WHERE datname = current_database()");
        return (string)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }

    [Fact]
    public async Task Consumed_change_log_partitions_are_truncated()
    {
        await Site.Metric(11, 4, 4);
        await Db.RunAsync();
        var pending = await Db.ScalarAsync<long>("""
            SELECT count(*) FROM bmm.change_log l, bmm.consumer c WHERE c.name = 'setbased' AND (l.xid, l.kind, l.row_id) > (c.xid, c.kind, c.row_id)
            """);
        Assert.Equal(0, pending);
        // Every row left is at or behind the position, in a partition not yet wholly passed.
        var behind = await Db.ScalarAsync<long>("SELECT count(*) FROM bmm.change_log l, bmm.consumer c WHERE l.xid >= (c.xid / bmm.change_log_partition_width()) * bmm.change_log_partition_width()");
        Assert.Equal(await Db.ScalarAsync<long>("SELECT count(*) FROM bmm.change_log"), behind);
    }
}
