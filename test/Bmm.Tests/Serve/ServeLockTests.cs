using Bmm.Refresh;
using Bmm.Tests.Infrastructure;

namespace Bmm.Tests.Serve;

/// <summary>Only one run at a time, within a process (busy) and across processes (the runner lock); stopping is prompt.</summary>
public sealed class ServeLockTests : IAsyncLifetime
{
    private TestDatabase _db = null!;

    public async ValueTask InitializeAsync() => _db = await TestDatabase.CreateAsync(TestContext.Current.CancellationToken);

    public ValueTask DisposeAsync() => _db.DisposeAsync();

    [Fact]
    public async Task Serve_skips_while_another_runner_holds_the_lock_and_runs_once_it_is_released()
    {
        var ct = TestContext.Current.CancellationToken;
        var held = await RunnerLock.TryAcquireAsync(_db.DataSource, ct);
        Assert.NotNull(held);
        await using var serve = await RunningServe.StartAsync(_db);
        await RunningServe.WaitForAsync(
            async () => RunningServe.Value(await serve.MetricsTextAsync(), "bmm_runs_skipped_total", "reason=\"locked\"") >= 2,
            TimeSpan.FromSeconds(10), "skips for the lock");
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM bmm.run_history"));

        await held.DisposeAsync();
        await RunningServe.WaitForAsync(
            async () => await _db.ScalarAsync<long>("SELECT count(*) FROM bmm.run_history WHERE outcome = 'succeeded'") >= 1,
            TimeSpan.FromSeconds(10), "a run after the lock was released");
    }

    [Fact]
    public async Task Two_serves_never_run_at_once_and_a_tick_during_a_run_is_skipped_as_busy()
    {
        await using var first = await RunningServe.StartAsync(_db, new SleepStrategy(2.2));
        await using var second = await RunningServe.StartAsync(_db, new SleepStrategy(2.2));
        await RunningServe.WaitForAsync(
            async () => await _db.ScalarAsync<long>("SELECT count(*) FROM bmm.run_history WHERE outcome = 'succeeded'") >= 2,
            TimeSpan.FromSeconds(15), "two runs");
        var a = await first.MetricsTextAsync();
        var b = await second.MetricsTextAsync();
        Assert.True(RunningServe.Value(a, "bmm_runs_skipped_total", "reason=\"busy\"") + RunningServe.Value(b, "bmm_runs_skipped_total", "reason=\"busy\"") >= 1, a + b);
        Assert.True(RunningServe.Value(a, "bmm_runs_skipped_total", "reason=\"locked\"") + RunningServe.Value(b, "bmm_runs_skipped_total", "reason=\"locked\"") >= 1, a + b);
        Assert.Equal(0L, await _db.ScalarAsync<long>("""
            SELECT count(*) FROM bmm.run_history x JOIN bmm.run_history y ON x.id < y.id
            WHERE tstzrange(x.started_at, coalesce(x.finished_at, 'infinity')) && tstzrange(y.started_at, coalesce(y.finished_at, 'infinity'))
            """));
    }

    [Fact]
    public async Task Stopping_cancels_the_query_in_flight_and_returns_promptly()
    {
        await using var serve = await RunningServe.StartAsync(_db, new SleepStrategy(60));
        const string sleeping = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE 'SELECT pg_sleep%'";
        await RunningServe.WaitForAsync(async () => await _db.ScalarAsync<long>(sleeping) == 1, TimeSpan.FromSeconds(10), "the run's query");
        var took = await serve.StopAsync();
        Assert.True(took < TimeSpan.FromSeconds(3), $"stopping took {took.TotalSeconds:F1}s");
        await RunningServe.WaitForAsync(async () => await _db.ScalarAsync<long>(sleeping) == 0, TimeSpan.FromSeconds(3), "the query to be cancelled on the server");
        // The lock went with the run: a runner can take it at once.
        await using var again = await RunnerLock.TryAcquireAsync(_db.DataSource, TestContext.Current.CancellationToken);
        Assert.NotNull(again);
    }
}
