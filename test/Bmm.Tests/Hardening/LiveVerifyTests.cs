using Bmm.Cli;
using Bmm.Refresh;
using Bmm.Tests.Infrastructure;
using Npgsql;

namespace Bmm.Tests.Hardening;

/// <summary>verify on a live database: what the job has not applied yet is pending, not drift; a repair takes turns with the runner.</summary>
public sealed class LiveVerifyTests : FreshDatabaseTest
{
    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        await Site.Model(1);
        await Site.Version(10, 1, "SDXL 1.0");
        await Site.Metric(10, 5, 1);
        await Site.Model(2);
        await Site.Version(20, 2, "Pony");
        await Site.Metric(20, 7, 3);
        await Db.RunAsync();
    }

    [Fact]
    public async Task Changes_captured_but_not_applied_are_left_out_and_real_drift_is_exit_1()
    {
        await Site.Metric(10, 50, 1);
        await Site.Review(100, 10, userId: 3);
        var pending = await BmmProcess.RunAsync(Db.ConnectionString, "verify");
        Assert.True(pending.ExitCode == ExitCodes.Success, pending.ToString());
        Assert.Contains("Left out: 1 rows of models with changes the job has not applied yet", pending.Output);

        await Db.ExecuteAsync("""UPDATE "ModelBaseModelMetric" SET "downloadCount" = 1 WHERE "modelId" = 2""");
        var drift = await BmmProcess.RunAsync(Db.ConnectionString, "verify", "--json");
        Assert.True(drift.ExitCode == ExitCodes.Drift, drift.ToString());
        using var report = System.Text.Json.JsonDocument.Parse(drift.Output);
        Assert.Equal(1, report.RootElement.GetProperty("wrong").GetInt64());
        Assert.Equal(1, report.RootElement.GetProperty("pending").GetInt64());
    }

    [Fact]
    public async Task A_repair_while_a_follower_holds_the_lock_is_queued_for_it_and_names_it()
    {
        var ct = TestContext.Current.CancellationToken;
        await Db.ExecuteAsync("""UPDATE "ModelBaseModelMetric" SET "downloadCount" = 1 WHERE "modelId" = 2""");
        // A session holding the runner lock as `bmm follow` names its own.
        var holder = new NpgsqlConnectionStringBuilder(Db.ConnectionString) { ApplicationName = "bmm follow", Pooling = false }.ConnectionString;
        await using (var follower = new NpgsqlConnection(holder))
        {
            await follower.OpenAsync(ct);
            await using (var take = new NpgsqlCommand($"SELECT pg_advisory_lock({RunnerLock.Key})", follower))
                await take.ExecuteNonQueryAsync(ct);

            var repair = await BmmProcess.RunAsync(Db.ConnectionString, "verify", "--repair");
            Assert.True(repair.ExitCode == ExitCodes.Success, repair.ToString());
            Assert.Contains("Queued: 1 drifted models", repair.Output);
            Assert.Contains("`bmm follow`", repair.Error);
            Assert.Equal(2, await Db.ScalarAsync<int>("SELECT model_id FROM bmm.model_queue"));

            var backfill = await BmmProcess.RunAsync(Db.ConnectionString, "backfill");
            Assert.Equal(ExitCodes.Usage, backfill.ExitCode);
            Assert.Contains("`bmm follow`", backfill.Error);
            var run = await BmmProcess.RunAsync(Db.ConnectionString, "run");
            Assert.Contains("Skipped: `bmm follow`", run.Output);
            // Released here: a closed session's lock goes only when its backend has exited.
            await using var release = new NpgsqlCommand($"SELECT pg_advisory_unlock({RunnerLock.Key})", follower);
            await release.ExecuteNonQueryAsync(ct);
        }
        Assert.Equal(RunOutcome.Succeeded, (await Db.RunAsync()).Outcome);
        await Db.AssertMatchesOracleAsync("after the runner applied the queued repair");
    }
}
