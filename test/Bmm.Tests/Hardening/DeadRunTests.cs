using System.Diagnostics;
using Bmm.Refresh;
using Bmm.Tests.Infrastructure;

namespace Bmm.Tests.Hardening;

/// <summary>A run killed in the middle of its work stays 'running' only until the next runner takes the lock.</summary>
public sealed class DeadRunTests : FreshDatabaseTest
{
    [Fact]
    public async Task A_killed_run_is_marked_abandoned_by_the_next_runner_and_status_shows_it()
    {
        var ct = TestContext.Current.CancellationToken;
        // The run waits on a row a site transaction holds, and is killed there.
        await using (await RowHeldBySite.HoldAsync(Db, Site))
        {
            using var run = BmmProcess.Start(Db.ConnectionString, RowHeldBySite.PatientRun, "run");
            await RowHeldBySite.UntilARunWaitsAsync(Db, () => run.HasExited);
            run.Kill(entireProcessTree: true);
            await run.WaitForExitAsync(ct);
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
