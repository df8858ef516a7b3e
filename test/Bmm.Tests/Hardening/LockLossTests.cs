using System.Text.Json;
using Bmm.Tests.Infrastructure;
using Npgsql;

namespace Bmm.Tests.Hardening;

/// <summary>The connection holding the runner lock is terminated while a run waits on a row.</summary>
public sealed class LockLossTests : FreshDatabaseTest
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_run_that_loses_its_lock_exits_3_and_says_so(bool json)
    {
        var ct = TestContext.Current.CancellationToken;
        await Site.Model(1);
        await Site.Version(10, 1, "SDXL 1.0");
        await Site.Metric(10, 5, 1);
        await Db.RunAsync();
        await Site.Metric(10, 6, 1);

        // A site transaction holds the row the run must write, so that the run is in the middle
        // of its work when its lock's connection goes.
        await using var site = await Db.DataSource.OpenConnectionAsync(ct);
        await using var transaction = await site.BeginTransactionAsync(ct);
        await using (var hold = new NpgsqlCommand("""SELECT 1 FROM "ModelBaseModelMetric" WHERE "modelId" = 1 FOR UPDATE""", site, transaction))
            await hold.ExecuteNonQueryAsync(ct);

        var arguments = json ? new[] { "run", "--json" } : ["run"];
        var running = BmmProcess.RunAsync(Db.ConnectionString, new Dictionary<string, string> { ["BMM_Job__LockTimeoutSeconds"] = "60" }, null, arguments);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await Db.ScalarAsync<long>("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'") == 0)
        {
            Assert.True(DateTime.UtcNow < deadline && !running.IsCompleted, "the run never waited on the held row");
            await Task.Delay(50, ct);
        }
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
        await transaction.RollbackAsync(ct);
        Assert.Equal("failed", await Db.ScalarAsync<string>("SELECT outcome FROM bmm.run_history ORDER BY id DESC LIMIT 1"));
        await Db.RunAsync();
        await Db.AssertMatchesOracleAsync("after the next run");
    }
}
