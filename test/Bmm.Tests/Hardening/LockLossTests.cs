using System.Text.Json;
using Bmm.Tests.Infrastructure;

namespace Bmm.Tests.Hardening;

/// <summary>The connection holding the runner lock is terminated while a run waits on a row.</summary>
public sealed class LockLossTests : FreshDatabaseTest
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_run_that_loses_its_lock_exits_3_and_says_so(bool json)
    {
        await using (await RowHeldBySite.HoldAsync(Db, Site))
        {
            var arguments = json ? new[] { "run", "--json" } : ["run"];
            var running = BmmProcess.RunAsync(Db.ConnectionString, RowHeldBySite.PatientRun, null, arguments);
            await RowHeldBySite.UntilARunWaitsAsync(Db, () => running.IsCompleted);
            // The connection holding the runner lock goes while the run is in the middle of its work.
            Assert.True(await TerminateTheLocksHolderAsync());

            var result = await running;
            Assert.True(result.ExitCode == 3, result.ToString());
            Assert.DoesNotContain("   at ", result.Error);
            if (json)
            {
                using var document = JsonDocument.Parse(result.Output);
                Assert.Equal("failed", document.RootElement.GetProperty("outcome").GetString());
                Assert.Contains("runner lock was lost", document.RootElement.GetProperty("error").GetString());
            }
            else
            {
                Assert.Contains("runner lock was lost", result.Error);
            }
        }
        Assert.Equal("failed", await Db.ScalarAsync<string>("SELECT outcome FROM bmm.run_history ORDER BY id DESC LIMIT 1"));
        await Db.RunAsync();
        await Db.AssertMatchesOracleAsync("after the next run");
    }

    [Fact]
    public async Task A_run_that_fails_after_committing_a_batch_reports_what_it_committed()
    {
        // Batches of one model: model 1's commits, model 2's waits on its row, and the lock goes.
        BmmProcess.Result result;
        await using (await RowHeldBySite.HoldAsync(Db, Site, models: 2))
        {
            var settings = new Dictionary<string, string>(RowHeldBySite.PatientRun) { ["BMM_Job__BatchSize"] = "1" };
            var running = BmmProcess.RunAsync(Db.ConnectionString, settings, null, "run", "--json");
            await RowHeldBySite.UntilARunWaitsAsync(Db, () => running.IsCompleted);
            Assert.True(await TerminateTheLocksHolderAsync());
            result = await running;
        }
        Assert.True(result.ExitCode == 3, result.ToString());
        using var document = JsonDocument.Parse(result.Output);
        Assert.Equal("failed", document.RootElement.GetProperty("outcome").GetString());
        Assert.Equal(1, document.RootElement.GetProperty("batches").GetInt32());
        Assert.Equal(1, document.RootElement.GetProperty("updated").GetInt64());
        Assert.Equal(6, await Db.ScalarAsync<int>("""SELECT "downloadCount" FROM "ModelBaseModelMetric" WHERE "modelId" = 1"""));
        Assert.Equal(1L, await Db.ScalarAsync<long>("SELECT updated FROM bmm.run_history ORDER BY id DESC LIMIT 1"));
        await Db.RunAsync();
        await Db.AssertMatchesOracleAsync("after the next run");
    }

    /// <summary>Ends the session holding the runner lock in this test's database, as a failing network or an operator would.</summary>
    private Task<bool> TerminateTheLocksHolderAsync() => Db.ScalarAsync<bool>("""
        SELECT pg_terminate_backend(pid) FROM pg_locks
        WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """);
}
