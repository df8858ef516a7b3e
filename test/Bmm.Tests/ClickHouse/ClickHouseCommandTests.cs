using Bmm.Cli;
using Bmm.Database;
using Bmm.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmm.Tests.ClickHouse;

/// <summary>
/// The clickhouse strategy as an operator drives it: bmm's own ClickHouse (no ClickHouse:Url),
/// a database of its own per PostgreSQL database, load, rebuild, run, verify; and a ClickHouse
/// that refuses or cannot be reached: exit 3, one sentence, nothing moved.
/// </summary>
public sealed class ClickHouseCommandTests : FreshDatabaseTest
{
    private Dictionary<string, string> Settings => new() { ["BMM_ClickHouse__Database"] = Db.Name };

    private const string Consumers = "SELECT coalesce(string_agg(name || xid, ',' ORDER BY name), '') FROM bmm.consumer";

    private async Task SeedAsync()
    {
        await Site.Model(1);
        await Site.Version(10, 1, "SDXL 1.0");
        await Site.Metric(10, 5, 1);
        await Site.Review(100, 10, 3);
    }

    [Fact]
    public async Task Load_refuses_a_loaded_mirror_without_rebuild_and_the_strategy_runs_on_what_it_loaded()
    {
        await SeedAsync();
        var load = await BmmProcess.RunAsync(Db.ConnectionString, Settings, null, "clickhouse", "load");
        Assert.True(load.ExitCode == ExitCodes.Success, load.ToString());
        Assert.Contains("Loaded 1 versions and 1 reviews", load.Output);

        var again = await BmmProcess.RunAsync(Db.ConnectionString, Settings, null, "clickhouse", "load");
        Assert.True(again.ExitCode == ExitCodes.Usage, again.ToString());
        Assert.Contains($"already mirrors PostgreSQL database '{Db.Name}': pass --rebuild", again.Error);

        await Site.Metric(10, 9, 2);
        var rebuild = await BmmProcess.RunAsync(Db.ConnectionString, Settings, null, "clickhouse", "load", "--rebuild");
        Assert.True(rebuild.ExitCode == ExitCodes.Success, rebuild.ToString());
        var run = await BmmProcess.RunAsync(Db.ConnectionString, Settings, null, "run", "--strategy", "clickhouse");
        Assert.True(run.ExitCode == ExitCodes.Success, run.ToString());
        var verify = await BmmProcess.RunAsync(Db.ConnectionString, Settings, null, "verify");
        Assert.True(verify.ExitCode == ExitCodes.Success, verify.ToString());
        var recompute = await BmmProcess.RunAsync(Db.ConnectionString, Settings, null, "clickhouse", "recompute");
        Assert.True(recompute.ExitCode == ExitCodes.Success, recompute.ToString());
        await Db.AssertMatchesOracleAsync("after recompute");
    }

    [Fact]
    public async Task A_wrong_password_or_an_unreachable_server_is_exit_3_with_one_sentence_and_nothing_moved()
    {
        await SeedAsync();
        var own = await EmbeddedClickHouse.EnsureAsync(NullLogger.Instance, TestContext.Current.CancellationToken);
        var before = await Db.ScalarAsync<string>(Consumers);
        foreach (var (url, password, expected) in new[]
                 {
                     (own.Url!, "wrong", "Code: 193"),
                     ("http://127.0.0.1:1", own.Password, "could not be reached"),
                 })
        {
            var settings = new Dictionary<string, string>(Settings) { ["BMM_ClickHouse__Url"] = url, ["BMM_ClickHouse__User"] = own.User, ["BMM_ClickHouse__Password"] = password };
            var run = await BmmProcess.RunAsync(Db.ConnectionString, settings, null, "run", "--strategy", "clickhouse");
            Assert.True(run.ExitCode == ExitCodes.Failed, run.ToString());
            Assert.Contains(expected, run.Error);
            Assert.DoesNotContain("   at ", run.Error);
            Assert.DoesNotContain(own.Password, run.Error);
            Assert.Equal(before, await Db.ScalarAsync<string>(Consumers));
        }
    }

    public override async ValueTask DisposeAsync()
    {
        var own = await EmbeddedClickHouse.EnsureAsync(NullLogger.Instance, CancellationToken.None);
        using var client = new Bmm.ClickHouse.ClickHouseClient(own);
        await client.ExecuteAsync($"DROP DATABASE IF EXISTS {Db.Name}", CancellationToken.None);
        await base.DisposeAsync();
    }
}
