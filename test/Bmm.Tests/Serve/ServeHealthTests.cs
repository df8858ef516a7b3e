using System.Net;
using Bmm.Refresh;
using Bmm.Tests.Infrastructure;

namespace Bmm.Tests.Serve;

/// <summary>/health turns 503 when the data gets older than three schedule intervals, and back to 200 when it catches up.</summary>
public sealed class ServeHealthTests : IAsyncLifetime
{
    private TestDatabase _db = null!;

    public async ValueTask InitializeAsync() => _db = await TestDatabase.CreateAsync(TestContext.Current.CancellationToken);

    public ValueTask DisposeAsync() => _db.DisposeAsync();

    [Fact]
    public async Task Health_turns_503_when_a_change_stays_pending_while_paused_and_recovers_on_resume()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var serve = await RunningServe.StartAsync(_db);
        await RunningServe.WaitForAsync(
            async () => await _db.ScalarAsync<long>("SELECT count(*) FROM bmm.run_history WHERE outcome = 'succeeded'") >= 1,
            TimeSpan.FromSeconds(10), "a successful run");
        Assert.Equal(HttpStatusCode.OK, (await serve.HealthAsync()).Status);

        await JobControl.SetPausedAsync(_db.DataSource, true, ct);
        var site = new Site(_db.DataSource);
        await site.Model(1);
        await site.Version(11, 1, "SDXL 1.0");
        var changed = System.Diagnostics.Stopwatch.GetTimestamp();

        // While paused, the time since the last success grows too; wait until the pending change
        // itself is older than three intervals.
        var body = "";
        await RunningServe.WaitForAsync(async () =>
        {
            (var status, body) = await serve.HealthAsync();
            return status == HttpStatusCode.ServiceUnavailable && PendingSeconds(body) >= 4;
        }, TimeSpan.FromSeconds(10), "unhealthy for the pending change");
        Assert.True(System.Diagnostics.Stopwatch.GetElapsedTime(changed) >= TimeSpan.FromSeconds(2.5), "unhealthy too early");
        Assert.Contains("more than 3 schedule intervals of 1s", body, StringComparison.Ordinal);
        var metrics = await serve.MetricsTextAsync();
        Assert.True(RunningServe.Value(metrics, "bmm_lag_seconds") >= 3, metrics);
        Assert.True(RunningServe.Value(metrics, "bmm_change_log_rows") >= 1, metrics);
        Assert.True(RunningServe.Value(metrics, "bmm_runs_skipped_total", "reason=\"paused\"") >= 1, metrics);

        await JobControl.SetPausedAsync(_db.DataSource, false, ct);
        await RunningServe.WaitForAsync(async () => (await serve.HealthAsync()).Status == HttpStatusCode.OK, TimeSpan.FromSeconds(10), "healthy again");
        await _db.AssertMatchesOracleAsync("after resuming");
    }

    [Fact]
    public async Task Health_turns_503_when_runs_succeed_but_a_change_is_never_applied()
    {
        // Runs keep succeeding, so only the lag of the pending change can make the data old.
        await using var serve = await RunningServe.StartAsync(_db, new NoopStrategy());
        var site = new Site(_db.DataSource);
        await site.Model(1);
        await site.Version(11, 1, "SDXL 1.0");
        var body = "";
        await RunningServe.WaitForAsync(async () =>
        {
            (var status, body) = await serve.HealthAsync();
            return status == HttpStatusCode.ServiceUnavailable;
        }, TimeSpan.FromSeconds(10), "unhealthy");
        Assert.True(PendingSeconds(body) >= 3, body);
        Assert.Matches(@"last successful run [0-2]s ago", body);
    }

    private static double PendingSeconds(string reason)
    {
        var match = System.Text.RegularExpressions.Regex.Match(reason, @"oldest pending change (\d+)s");
        return match.Success ? double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }
}
