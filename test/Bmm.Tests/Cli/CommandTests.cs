using System.Text.Json;
using Bmm.Cli;
using Bmm.Tests.Infrastructure;

namespace Bmm.Tests.Cli;

/// <summary>The commands end to end, as a user runs them.</summary>
public sealed class CommandTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    [Fact]
    public async Task Run_verify_and_repair_report_through_exit_codes()
    {
        var site = new Site(db.DataSource);
        await site.Model(1);
        await site.Version(11, 1, "SDXL 1.0");
        await site.Metric(11, 10, 2);
        await site.Review(1, 11, 5);

        var run = await BmmProcess.RunAsync(db.ConnectionString, "run", "--json");
        Assert.True(run.ExitCode == ExitCodes.Success, run.ToString());
        using (var json = JsonDocument.Parse(run.Output))
        {
            Assert.Equal("succeeded", json.RootElement.GetProperty("outcome").GetString());
            Assert.Equal(1, json.RootElement.GetProperty("affectedModels").GetInt64());
        }
        Assert.Equal(ExitCodes.Success, (await BmmProcess.RunAsync(db.ConnectionString, "verify")).ExitCode);

        await db.ExecuteAsync("""UPDATE "ModelBaseModelMetric" SET "downloadCount" = 3, "nsfwLevel" = 16""");
        await db.ExecuteAsync("""INSERT INTO "ModelBaseModelMetric" ("modelId", "baseModel", "status", "availability") VALUES (99, 'Pony', 'Published', 'Public')""");
        var drift = await BmmProcess.RunAsync(db.ConnectionString, "verify", "--json");
        Assert.Equal(ExitCodes.Drift, drift.ExitCode);
        using (var json = JsonDocument.Parse(drift.Output))
        {
            Assert.Equal(1, json.RootElement.GetProperty("wrong").GetInt64());
            Assert.Equal(1, json.RootElement.GetProperty("extra").GetInt64());
        }
        var repair = await BmmProcess.RunAsync(db.ConnectionString, "verify", "--repair");
        Assert.True(repair.ExitCode == ExitCodes.Success, repair.ToString());
        Assert.Equal(ExitCodes.Success, (await BmmProcess.RunAsync(db.ConnectionString, "verify")).ExitCode);
    }

    [Fact]
    public async Task Status_pause_and_resume()
    {
        Assert.Equal(ExitCodes.Success, (await BmmProcess.RunAsync(db.ConnectionString, "pause")).ExitCode);
        var paused = await BmmProcess.RunAsync(db.ConnectionString, "status", "--json");
        using (var json = JsonDocument.Parse(paused.Output))
            Assert.True(json.RootElement.GetProperty("paused").GetBoolean());
        var skipped = await BmmProcess.RunAsync(db.ConnectionString, "run");
        Assert.Contains("paused", skipped.Output);
        Assert.Equal(ExitCodes.Success, (await BmmProcess.RunAsync(db.ConnectionString, "resume")).ExitCode);
        var status = await BmmProcess.RunAsync(db.ConnectionString, "status");
        Assert.True(status.ExitCode == ExitCodes.Success, status.ToString());
        Assert.Contains("lag", status.Output);
    }

    [Fact]
    public async Task Migrate_is_idempotent_and_capture_can_be_removed_and_restored()
    {
        var again = await BmmProcess.RunAsync(db.ConnectionString, "migrate");
        Assert.True(again.ExitCode == ExitCodes.Success, again.ToString());
        Assert.Contains("no migration applied", again.Output);
        Assert.Contains("already installed", again.Output);
        Assert.Contains("GRANT INSERT ON bmm.change_log", again.Output);

        var removed = await BmmProcess.RunAsync(db.ConnectionString, "migrate", "--remove-capture");
        Assert.Contains("Removed 11 capture triggers", removed.Output);
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'bmm_capture_%'"));

        var restored = await BmmProcess.RunAsync(db.ConnectionString, "migrate");
        Assert.Contains("Added 11 capture triggers", restored.Output);
    }
}
