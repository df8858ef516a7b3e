using System.Net;
using Bmm.Cli;
using Bmm.Recompute;
using Bmm.Refresh;
using Bmm.Strategies;
using Bmm.Tests.Infrastructure;
using Bmm.Writing;
using Npgsql;

namespace Bmm.Tests.Serve;

/// <summary>bmm serve runs the job on its schedule and exports what it does.</summary>
public sealed class ServeTests : IAsyncLifetime
{
    private TestDatabase _db = null!;

    public async ValueTask InitializeAsync() => _db = await TestDatabase.CreateAsync(TestContext.Current.CancellationToken);

    public ValueTask DisposeAsync() => _db.DisposeAsync();

    [Fact]
    public async Task Serve_runs_the_clickhouse_strategy_on_schedule()
    {
        var site = new Site(_db.DataSource);
        await site.Model(1);
        await site.Version(11, 1, "SDXL 1.0");
        await site.Metric(11, 10, 2);
        _db.ClickHouse = await TestClickHouse.MirrorAsync(_db, sharded: false, TestContext.Current.CancellationToken);

        await using var serve = await RunningServe.StartAsync(_db, StrategyCatalog.Create("clickhouse"));
        await RunningServe.WaitForAsync(
            async () => await _db.ScalarAsync<long>("SELECT count(*) FROM bmm.run_history WHERE strategy = 'clickhouse' AND outcome = 'succeeded'") >= 1,
            TimeSpan.FromSeconds(15), "a scheduled clickhouse run");
        await _db.AssertMatchesOracleAsync("after the first run");
        await site.Metric(11, 25, 3);
        await site.Review(100, 11, 7);
        await RunningServe.WaitForAsync(
            async () => await _db.ScalarAsync<long>("""SELECT count(*) FROM "ModelBaseModelMetric" WHERE "modelId" = 1 AND "downloadCount" = 25 AND "thumbsUpCount" = 1""") == 1,
            TimeSpan.FromSeconds(15), "the change applied by a scheduled run");
        await _db.AssertMatchesOracleAsync("after the change");
        var (status, body) = await serve.HealthAsync();
        Assert.True(status == HttpStatusCode.OK, body);
    }

    [Fact]
    public async Task Serve_runs_the_job_on_schedule_and_exports_metrics_and_health()
    {
        var site = new Site(_db.DataSource);
        await site.Model(1);
        await site.Version(11, 1, "SDXL 1.0");
        await site.Metric(11, 10, 2);

        await using var serve = await RunningServe.StartAsync(_db);
        await RunningServe.WaitForAsync(
            async () => await _db.ScalarAsync<long>("SELECT count(*) FROM bmm.run_history WHERE outcome = 'succeeded'") >= 2,
            TimeSpan.FromSeconds(10), "two scheduled runs");
        await _db.AssertMatchesOracleAsync("after scheduled runs");

        var metrics = await serve.MetricsTextAsync();
        Assert.True(RunningServe.Value(metrics, "bmm_runs_total", "outcome=\"succeeded\"") >= 2, metrics);
        Assert.True(RunningServe.Value(metrics, "bmm_rows_written_total") >= 1, metrics);
        Assert.Contains("bmm_run_duration_seconds_bucket{", metrics, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^bmm_lag_seconds[{ ]", metrics);
        Assert.Matches(@"(?m)^bmm_seconds_since_last_success[{ ]", metrics);
        Assert.Matches(@"(?m)^bmm_queue_depth[{ ]", metrics);
        Assert.DoesNotContain("bmm_bmm_", metrics, StringComparison.Ordinal);

        var (status, body) = await serve.HealthAsync();
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("healthy", body);
        Assert.True(await serve.StopAsync() < TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task Serve_reconciles_a_slice_after_each_run_and_repairs_drift_with_a_metric()
    {
        var site = new Site(_db.DataSource);
        await site.Model(1);
        await site.Version(11, 1, "SDXL 1.0");
        await site.Metric(11, 10, 2);
        await _db.RunAsync("incremental");
        // Drift no change-log row explains: only reconciliation can find it.
        await _db.ExecuteAsync("""UPDATE "ModelBaseModelMetric" SET "downloadCount" = 999 WHERE "modelId" = 1""");

        await using var serve = await RunningServe.StartAsync(_db, StrategyCatalog.Create("incremental"));
        await RunningServe.WaitForAsync(
            async () => await _db.ScalarAsync<long>("SELECT coalesce(sum(drifted_models), 0)::bigint FROM bmm.reconcile_cursor WHERE consumer = 'incremental'") >= 1,
            TimeSpan.FromSeconds(15), "a reconciliation that finds the drift");
        await _db.AssertMatchesOracleAsync("after the reconciliation");
        await _db.AssertIncrementalStateMatchesAsync("after the reconciliation");
        var metrics = await serve.MetricsTextAsync();
        Assert.True(RunningServe.Value(metrics, "bmm_drift_rows_total", "kind=\"table\"") >= 1, metrics);
    }

    [Fact]
    public async Task The_command_line_serve_stops_cleanly_when_its_token_is_cancelled()
    {
        var url = $"http://127.0.0.1:{RunningServe.FreePort()}/";
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var serving = CliApp.RunAsync(["serve", "--connection", _db.ConnectionString, "--schedule", "* * * * * *", "--metrics-url", url],
            TextWriter.Null, stop.Token);
        await RunningServe.WaitForAsync(
            async () => serving.IsCompleted || await _db.ScalarAsync<long>("SELECT count(*) FROM bmm.run_history WHERE outcome = 'succeeded'") >= 1,
            TimeSpan.FromSeconds(15), "a scheduled run");
        Assert.False(serving.IsCompleted, $"serve exited early with {(serving.IsCompleted ? await serving : 0)}");
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        await stop.CancelAsync();
        var exitCode = await serving.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.True(System.Diagnostics.Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(3));
    }

    [Theory]
    [InlineData("--schedule", "every five minutes")]
    [InlineData("--schedule", "*/5 * * *")]
    [InlineData("--schedule", "61 * * * *")]
    [InlineData("--metrics-url", "ftp://127.0.0.1:9464/")]
    [InlineData("--metrics-url", "not a url")]
    [InlineData("--strategy", "nonesuch")]
    public async Task Bad_serve_usage_exits_2_before_touching_the_database(string option, string value)
    {
        // A connection string to nowhere: reaching the database would fail differently (and slowly).
        var exitCode = await CliApp.RunAsync(["serve", "--connection", "Host=192.0.2.1;Timeout=30", option, value], TextWriter.Null,
            TestContext.Current.CancellationToken);
        Assert.Equal(ExitCodes.Usage, exitCode);
    }

    [Fact]
    public async Task A_failing_run_is_logged_and_the_scheduler_goes_on()
    {
        await using var serve = await RunningServe.StartAsync(_db, new FailingStrategy());
        await RunningServe.WaitForAsync(
            async () => await _db.ScalarAsync<long>("SELECT count(*) FROM bmm.run_history WHERE outcome = 'failed'") >= 2,
            TimeSpan.FromSeconds(10), "two failed runs");
        var metrics = await serve.MetricsTextAsync();
        Assert.True(RunningServe.Value(metrics, "bmm_runs_total", "outcome=\"failed\"") >= 2, metrics);
        // After each failure the next tick (1 s later) falls inside the backoff (1 s, then 2 s).
        Assert.True(RunningServe.Value(metrics, "bmm_runs_skipped_total", "reason=\"backoff\"") >= 1, metrics);
        Assert.False(serve.Serving.IsCompleted);
    }

    private sealed class FailingStrategy : IRefreshStrategy
    {
        public string Name => "failing";
        public string Description => "Always fails.";
        public string? Consumer => null;
        public Reconciliation Reconciliation => Reconciliation.None;
        public Task<WriteCounts> RepairAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, CancellationToken cancellationToken) =>
            Recomputer.RefreshModelsAsync(connection, transaction, modelIds, Recount.Everything, cancellationToken);
        public Task RefreshAsync(RefreshContext context, RefreshResult result, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("This strategy always fails.");
    }
}
