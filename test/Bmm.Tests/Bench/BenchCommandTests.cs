using System.Text.Json;
using Bmm.Cli;
using Bmm.Tests.Infrastructure;

namespace Bmm.Tests.Bench;

/// <summary>The benchmark command works end to end on tiny data. Its figures are not asserted: a benchmark never fails on time.</summary>
public sealed class BenchCommandTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    [Fact]
    public async Task Bench_runs_every_scenario_and_strategy_and_writes_its_report_json_and_chart()
    {
        var folder = Directory.CreateTempSubdirectory("bmm-bench-test").FullName;
        try
        {
            var json = Path.Combine(folder, "bench.json");
            var markdown = Path.Combine(folder, "bench.md");
            var png = Path.Combine(folder, "bench.png");
            // The budget is a cap: generous, so that a trial on a loaded machine is not cut (it ends in about 3 minutes).
            // The connection given on the command line, as an operator would: the report, written to be shared, keeps it without its password.
            var result = await BmmProcess.RunAsync(null, "bench", "--connection", db.ConnectionString, "--scale", "tiny", "--repeat", "1",
                "--catchup-minutes", "15", "--follow-seconds", "8", "--budget", "40", "--json", json, "--markdown", markdown, "--png", png);
            Assert.True(result.ExitCode == ExitCodes.Success, result.ToString());

            using var report = JsonDocument.Parse(await File.ReadAllTextAsync(json, TestContext.Current.CancellationToken));
            var password = new Npgsql.NpgsqlConnectionStringBuilder(db.ConnectionString).Password!;
            var command = report.RootElement.GetProperty("command").GetString()!;
            Assert.Contains("--connection Host=", command);
            Assert.DoesNotContain(password, command);
            Assert.DoesNotContain(password, await File.ReadAllTextAsync(markdown, TestContext.Current.CancellationToken));
            var scenarios = report.RootElement.GetProperty("scenarios").EnumerateArray().ToList();
            Assert.Equal(["steady", "catchup", "quiet", "hour", "follow"], scenarios.Select(s => s.GetProperty("scenario").GetString()));
            foreach (var scenario in scenarios[..^1])
            {
                var floor = scenario.GetProperty("floor");
                Assert.True(floor.GetProperty("seconds").GetDouble() >= 0);
                // Measured beside the strategies, once per trial: its spread is reported.
                Assert.Equal(floor.GetProperty("seconds").GetDouble(), floor.GetProperty("trials").GetProperty("median").GetDouble());
                var strategies = Strategies(scenario);
                Assert.Equal(["incremental", "phase1", "reviews-mv", "sequential", "setbased"], strategies.Keys.Order());
                foreach (var exact in new[] { "setbased", "incremental" })
                    Assert.True(strategies[exact].GetProperty("drift").ValueKind == JsonValueKind.Number && strategies[exact].GetProperty("drift").GetInt64() == 0,
                        $"{exact} after {scenario.GetProperty("scenario")}: {strategies[exact]}");
            }
            var follow = scenarios[^1].GetProperty("follow");
            Assert.Equal(JsonValueKind.Null, follow.GetProperty("error").ValueKind);
            var rates = follow.GetProperty("rates").EnumerateArray().ToList();
            Assert.Equal([(1.0, false), (10.0, false), (1.0, true)], rates.Select(r => (r.GetProperty("rate").GetDouble(), r.GetProperty("heldTransaction").GetBoolean())));
            foreach (var rate in rates)
            {
                Assert.True(rate.GetProperty("probes").GetInt32() > 0, rate.ToString());
                Assert.True(rate.GetProperty("p50Ms").GetDouble() >= 0, rate.ToString());
                Assert.True(rate.GetProperty("metricRowsPerMinute").GetDouble() > 0, rate.ToString());
            }
            Assert.True(follow.GetProperty("reviewStatsRefreshSeconds").GetDouble() >= 0);
            Assert.Contains("× floor", await File.ReadAllTextAsync(markdown, TestContext.Current.CancellationToken));
            var image = await File.ReadAllBytesAsync(png, TestContext.Current.CancellationToken);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, image[..4]);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Bench_measures_clickhouse_in_steady_state_and_its_full_recomputation_beside_backfill()
    {
        var folder = Directory.CreateTempSubdirectory("bmm-bench-test").FullName;
        try
        {
            var json = Path.Combine(folder, "bench.json");
            var markdown = Path.Combine(folder, "bench.md");
            var result = await BmmProcess.RunAsync(db.ConnectionString, "bench", "--scale", "tiny", "--repeat", "1", "--scenario", "steady,full",
                "--strategies", "setbased,clickhouse", "--budget", "20", "--json", json, "--markdown", markdown);
            Assert.True(result.ExitCode == ExitCodes.Success, result.ToString());

            using var report = JsonDocument.Parse(await File.ReadAllTextAsync(json, TestContext.Current.CancellationToken));
            Assert.Contains("bmm's own server", report.RootElement.GetProperty("clickHouse").GetString());
            var scenarios = report.RootElement.GetProperty("scenarios").EnumerateArray().ToDictionary(s => s.GetProperty("scenario").GetString()!);
            Assert.Equal(["full", "steady"], scenarios.Keys.Order());

            var steady = Strategies(scenarios["steady"]);
            Assert.Equal(["clickhouse", "setbased"], steady.Keys.Order());
            // A steady-state run: the mirror was there before the window, so nothing was loaded.
            Assert.False(steady["clickhouse"].GetProperty("phaseSecondsMedian").TryGetProperty("load", out _), steady["clickhouse"].ToString());
            Assert.Equal(steady["setbased"].GetProperty("rowsWrittenMedian").GetDouble(), steady["clickhouse"].GetProperty("rowsWrittenMedian").GetDouble());
            AssertServerMeasured(steady["clickhouse"]);
            Assert.Equal(JsonValueKind.Null, steady["setbased"].GetProperty("clickHouseCpuSecondsMedian").ValueKind);

            var full = Strategies(scenarios["full"]);
            Assert.Equal(["backfill", "clickhouse"], full.Keys.Order());
            Assert.Equal(full["backfill"].GetProperty("rowsWrittenMedian").GetDouble(), full["clickhouse"].GetProperty("rowsWrittenMedian").GetDouble());
            Assert.True(full["clickhouse"].GetProperty("rowsWrittenMedian").GetDouble() > 0, full["clickhouse"].ToString());
            var phases = full["clickhouse"].GetProperty("phaseSecondsMedian");
            Assert.True(phases.GetProperty("load").GetDouble() > 0 && phases.GetProperty("recompute").GetDouble() > 0, phases.ToString());
            Assert.True(full["clickhouse"].GetProperty("ratioToBackfill").GetDouble() > 0);
            Assert.Equal(1.0, full["backfill"].GetProperty("ratioToBackfill").GetDouble());
            AssertServerMeasured(full["clickhouse"]);
            var trial = scenarios["full"].GetProperty("trials").EnumerateArray().Single(t => t.GetProperty("strategy").GetString() == "clickhouse");
            Assert.True(trial.GetProperty("inProcess").GetBoolean());
            Assert.True(trial.GetProperty("clickHouseMemoryIsPeak").ValueKind is JsonValueKind.True or JsonValueKind.False);

            var text = await File.ReadAllTextAsync(markdown, TestContext.Current.CancellationToken);
            Assert.Contains("ClickHouse CPU", text);
            Assert.Contains("Every pair recomputed: backfill", text);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }

        static void AssertServerMeasured(JsonElement clickHouse)
        {
            Assert.True(clickHouse.GetProperty("drift").ValueKind == JsonValueKind.Number && clickHouse.GetProperty("drift").GetInt64() == 0, clickHouse.ToString());
            Assert.True(clickHouse.GetProperty("clickHouseCpuSecondsMedian").GetDouble() > 0, clickHouse.ToString());
            Assert.True(clickHouse.GetProperty("clickHouseMemoryBytesMax").GetDouble() > 0, clickHouse.ToString());
        }
    }

    /// <summary>A scenario's strategies in the report, by name.</summary>
    private static Dictionary<string, JsonElement> Strategies(JsonElement scenario) =>
        scenario.GetProperty("strategies").EnumerateArray().ToDictionary(s => s.GetProperty("strategy").GetString()!);

    [Fact]
    public async Task An_unknown_scenario_is_refused()
    {
        var result = await BmmProcess.RunAsync(db.ConnectionString, "bench", "--scenario", "rush");
        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains("Unknown scenario 'rush'", result.Error);
    }
}
