using System.Diagnostics;
using Bmm.Refresh;
using Bmm.Tests.Infrastructure;
using Npgsql;

namespace Bmm.Tests.Hardening;

/// <summary>A run killed in the middle of its work stays 'running' only until the next runner takes the lock.</summary>
public sealed class DeadRunTests : FreshDatabaseTest
{
    [Fact]
    public async Task A_killed_run_is_marked_abandoned_by_the_next_runner_and_status_shows_it()
    {
        var ct = TestContext.Current.CancellationToken;
        await Site.Model(1);
        await Site.Version(10, 1, "SDXL 1.0");
        await Site.Metric(10, 5, 1);
        await Db.RunAsync();
        await Site.Metric(10, 6, 1);

        // The run waits on a row a site transaction holds, and is killed there.
        await using (var site = await Db.DataSource.OpenConnectionAsync(ct))
        await using (var transaction = await site.BeginTransactionAsync(ct))
        {
            await using (var hold = new NpgsqlCommand("""SELECT 1 FROM "ModelBaseModelMetric" WHERE "modelId" = 1 FOR UPDATE""", site, transaction))
                await hold.ExecuteNonQueryAsync(ct);
            using var run = BmmProcess.Start(Db.ConnectionString, new Dictionary<string, string> { ["BMM_Job__LockTimeoutSeconds"] = "60" }, "run");
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (await Db.ScalarAsync<long>("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'") == 0)
            {
                Assert.True(DateTime.UtcNow < deadline && !run.HasExited, "the run never waited on the held row");
                await Task.Delay(50, ct);
            }
            run.Kill(entireProcessTree: true);
            await run.WaitForExitAsync(ct);
            await transaction.RollbackAsync(ct);
        }
        var killed = await Db.ScalarAsync<long>("SELECT max(id) FROM bmm.run_history");
        Assert.Equal("running", await Db.ScalarAsync<string>($"SELECT outcome FROM bmm.run_history WHERE id = {killed}"));

        // The killed process's backend may outlive it for a moment, holding the lock.
        var stopwatch = Stopwatch.StartNew();
        RunReport next;
        do next = await Db.RunAsync();
        while (next.Outcome == RunOutcome.SkippedLocked && stopwatch.Elapsed < TimeSpan.FromSeconds(30));
        Assert.Equal(RunOutcome.Succeeded, next.Outcome);

        Assert.Equal("abandoned", await Db.ScalarAsync<string>($"SELECT outcome FROM bmm.run_history WHERE id = {killed}"));
        Assert.True(await Db.ScalarAsync<bool>($"SELECT finished_at IS NOT NULL FROM bmm.run_history WHERE id = {killed}"));
        var status = await BmmProcess.RunAsync(Db.ConnectionString, "status", "--json");
        Assert.True(status.ExitCode == 0, status.ToString());
        using var document = System.Text.Json.JsonDocument.Parse(status.Output);
        var abandoned = document.RootElement.GetProperty("runs").EnumerateArray().Single(r => r.GetProperty("id").GetInt64() == killed);
        Assert.Equal("abandoned", abandoned.GetProperty("outcome").GetString());
        await Db.AssertMatchesOracleAsync("after the next run");
    }
}
