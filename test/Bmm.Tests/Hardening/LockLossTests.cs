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
            Assert.True(await Db.ScalarAsync<bool>("""
                SELECT pg_terminate_backend(pid) FROM pg_locks
                WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                """));

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
}
