using System.Diagnostics;
using System.Text.Json;
using Bmm.Configuration;
using Bmm.Oracle;
using Bmm.Refresh;
using Bmm.Schema;
using Bmm.Seeding;
using Bmm.Strategies.Incremental;
using Bmm.Strategies.ReviewsMv;
using Bmm.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.Bench;

/// <summary>
/// Measures the strategies side by side: every trial starts from a file copy of the same
/// scenario database (the same data and the same window of changes), strategies alternate in
/// order, each run is a separate <c>bmm run</c> process timed inside the job, and the floor is
/// the time to write just the rows the window requires. <c>clickHouse</c> is the server of the
/// clickhouse strategy and the full scenario, null when neither is measured.
/// </summary>
public sealed class BenchRunner(string adminConnectionString, BenchOptions options, bool embeddedServer, ClickHouseOptions? clickHouse, ILogger logger, Action<string> progress)
{
    /// <summary>The seed's clock: the watermark the simulated windows start from.</summary>
    public static readonly DateTimeOffset SeedTime = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private const int WindowMinutes = 5;
    private const int HourWindows = 12;
    /// <summary>Raised when the base holds something new, so that a cached base is rebuilt.</summary>
    private const int BaseGeneration = 2;

    private BenchMirror? _mirror;

    public async Task<BenchReport> RunAsync(string commandLine, CancellationToken cancellationToken)
    {
        var started = Stopwatch.StartNew();
        var report = new BenchReport
        {
            Command = commandLine,
            Product = options.Product ?? "bmm beside bmm-tools (JIT)",
            Machine = $"{Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1L << 30)} GiB, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}",
            StartedAt = DateTimeOffset.UtcNow,
            Scale = options.Scale.ToString().ToLowerInvariant(),
            Seed = options.Seed,
            Repeat = options.Repeat,
        };
        await using var admin = NpgsqlDataSource.Create(adminConnectionString);
        var databases = new BenchDatabases(admin, adminConnectionString);
        _mirror = clickHouse is null ? null : new BenchMirror(clickHouse, databases, logger, progress);
        report.ClickHouse = _mirror?.Describe();
        if (embeddedServer) await ExecuteAsync(admin, BenchSql.ProductionDurability, cancellationToken);
        try
        {
            await ReadSettingsAsync(admin, report.Settings, cancellationToken);
            if (embeddedServer && HugePagesInUse() is { } hugePages) report.Settings["huge pages in use"] = hugePages;
            var baseDatabase = await EnsureBaseAsync(databases, report, cancellationToken);
            // The follow scenario runs for a fixed time: the trials share what it leaves.
            var following = options.Scenarios.Contains(BenchScenario.Follow);
            var trialBudget = options.Budget - (following ? FollowScenario.Duration(options) : TimeSpan.Zero);
            var trialCount = options.Scenarios.Sum(s => StrategiesOf(s).Count) * options.Repeat;
            if (following && options.Strategies.Contains(BenchMirror.Strategy))
                progress("follow: measures bmm follow, which applies changes with incremental only; clickhouse is not measured there");
            var share = (trialBudget > TimeSpan.Zero ? trialBudget : TimeSpan.Zero) / Math.Max(1, trialCount);
            foreach (var scenario in options.Scenarios)
                report.Scenarios.Add(scenario == BenchScenario.Follow
                    ? await RunFollowAsync(databases, baseDatabase, () => options.Budget - started.Elapsed, cancellationToken)
                    : await RunScenarioAsync(databases, baseDatabase, scenario, share, cancellationToken));
        }
        finally
        {
            if (embeddedServer) await ExecuteAsync(admin, BenchSql.ResetDurability, CancellationToken.None);
            if (_mirror is not null) await _mirror.DropAllAsync(CancellationToken.None);
        }
        report.Seconds = started.Elapsed.TotalSeconds;
        return report;
    }

    /// <summary>What a scenario measures: the strategies asked for, with backfill in bulk; backfill and clickhouse's full recomputation in full.</summary>
    private IReadOnlyList<string> StrategiesOf(BenchScenario scenario) => scenario switch
    {
        BenchScenario.Follow => [],
        BenchScenario.Bulk => [.. options.Strategies, TrialProcess.Backfill],
        BenchScenario.Full => [TrialProcess.Backfill, BenchMirror.Strategy],
        _ => options.Strategies,
    };

    /// <summary>Named by scale, seed and schema version, so that a cached base never outlives its schema.</summary>
    private string BaseName => $"bmm_bench_{options.Scale.ToString().ToLowerInvariant()}_{options.Seed}_{Migrator.ScriptsHash()}_b{BaseGeneration}";

    private async Task<string> EnsureBaseAsync(BenchDatabases databases, BenchReport report, CancellationToken cancellationToken)
    {
        var name = BaseName;
        if (!await databases.TemplateExistsAsync(name, cancellationToken))
        {
            progress($"Seeding {name} (once; kept as a template for later runs)");
            await databases.DropAsync(name, cancellationToken);
            await databases.CreateEmptyAsync(name, cancellationToken);
            await using (var dataSource = databases.Open(name))
            {
                await Migrator.MigrateAsync(dataSource, withSiteSchema: true, cancellationToken);
                await Seeder.SeedAsync(dataSource, new SeedOptions { Scale = options.Scale, Seed = options.Seed }, new FixedTimeProvider(SeedTime), logger, null, cancellationToken);
                await PrepareStrategiesAsync(dataSource, cancellationToken);
                await ExecuteAsync(dataSource, BenchSql.Settle, cancellationToken);
            }
            await databases.MarkTemplateAsync(name, cancellationToken);
        }
        await using (var dataSource = databases.Open(name))
        {
            await using var count = dataSource.CreateCommand(BenchSql.DataSize);
            await using var reader = await count.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken)) report.DataSize[reader.GetString(0)] = reader.GetInt64(1);
        }
        NpgsqlConnection.ClearAllPools();
        return name;
    }

    /// <summary>
    /// Brings every strategy's own state up to the seed, as a deployment that has been running
    /// would have it, so that each scenario's window is all that is left to do: the incremental
    /// state is built from the seeded data (the window then arrives as deltas), and the view of
    /// reviews-mv is fresh as of the seed's clock (a run judges it due by its --clock, as the
    /// baselines judge their watermark).
    /// </summary>
    private async Task PrepareStrategiesAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        using var metrics = new JobMetrics();
        await IncrementalState.BootstrapAsync(dataSource, new Database.Transactions(dataSource, new JobOptions(), logger, metrics), cancellationToken);
        var started = Stopwatch.GetTimestamp();
        await ExecuteAsync(dataSource, BenchSql.RefreshReviewStats, cancellationToken);
        await using var record = dataSource.CreateCommand(ReviewsMvSql.RecordRefresh);
        record.Parameters.AddWithValue("refreshed_at", SeedTime);
        record.Parameters.AddWithValue("seconds", Stopwatch.GetElapsedTime(started).TotalSeconds);
        await record.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The scenario's starting database (a template) and the window it holds.</summary>
    private async Task<(string Template, DateTimeOffset Clock, string Window)> EnsureScenarioAsync(BenchDatabases databases, string baseDatabase, BenchScenario scenario, CancellationToken cancellationToken)
    {
        if (scenario == BenchScenario.Bulk) return (await EnsureBulkAsync(databases, cancellationToken), SeedTime, "the whole site loaded in a transaction per table");
        var minutes = scenario switch
        {
            // Full starts where steady does: the table exact but for one window.
            BenchScenario.Steady or BenchScenario.Full => WindowMinutes,
            BenchScenario.Catchup => options.CatchupMinutes,
            _ => 0,
        };
        if (minutes == 0)
            return (baseDatabase, SeedTime.AddMinutes(WindowMinutes), scenario == BenchScenario.Quiet ? "nothing changed" : $"{HourWindows} windows of {WindowMinutes} minutes");
        var window = $"{minutes} minutes at {options.Rate:0.##}x the site's rate";
        var name = $"{baseDatabase}_{(scenario == BenchScenario.Full ? BenchScenario.Steady : scenario).ToString().ToLowerInvariant()}_{minutes}m_r{options.Rate:0.##}".Replace('.', '_');
        if (!await databases.TemplateExistsAsync(name, cancellationToken))
        {
            progress($"Simulating {window} into {name}");
            await databases.DropAsync(name, cancellationToken);
            await databases.CloneAsync(baseDatabase, name, cancellationToken);
            await using (var dataSource = databases.Open(name))
            {
                await SimulateAsync(dataSource, 0, minutes, cancellationToken);
                await ExecuteAsync(dataSource, BenchSql.Settle, cancellationToken);
            }
            await databases.MarkTemplateAsync(name, cancellationToken);
        }
        return (name, SeedTime.AddMinutes(minutes), scenario == BenchScenario.Full ? $"every pair recomputed after {window}" : window);
    }

    /// <summary>
    /// An empty site whose strategies are ready (the incremental state built, the view refreshed),
    /// into which the whole site is then loaded as its writers would load it: capture and the
    /// site's triggers on, one transaction per table. Nothing is left for the job but the drain.
    /// </summary>
    private async Task<string> EnsureBulkAsync(BenchDatabases databases, CancellationToken cancellationToken)
    {
        var name = BaseName + "_bulk";
        if (await databases.TemplateExistsAsync(name, cancellationToken)) return name;
        progress($"Loading the whole site into {name} with capture on (once; kept as a template for later runs)");
        await databases.DropAsync(name, cancellationToken);
        await databases.CreateEmptyAsync(name, cancellationToken);
        await using (var dataSource = databases.Open(name))
        {
            await Migrator.MigrateAsync(dataSource, withSiteSchema: true, cancellationToken);
            await PrepareStrategiesAsync(dataSource, cancellationToken);
            await Seeder.SeedAsync(dataSource, new SeedOptions { Scale = options.Scale, Seed = options.Seed, Captured = true },
                new FixedTimeProvider(SeedTime), logger, null, cancellationToken);
            await ExecuteAsync(dataSource, BenchSql.Settle, cancellationToken);
        }
        await databases.MarkTemplateAsync(name, cancellationToken);
        NpgsqlConnection.ClearAllPools();
        return name;
    }

    private Task<SimulationSummary> SimulateAsync(NpgsqlDataSource dataSource, int startMinute, int minutes, CancellationToken cancellationToken) =>
        new ChangeSimulator(dataSource, logger).RunAsync(new SimulationOptions
        {
            Minutes = minutes,
            Rate = options.Rate,
            Seed = options.Seed + startMinute,
            Start = SeedTime.AddMinutes(startMinute).UtcDateTime,
        }, cancellationToken);

    private async Task<ScenarioReport> RunScenarioAsync(BenchDatabases databases, string baseDatabase, BenchScenario scenario, TimeSpan share, CancellationToken cancellationToken)
    {
        var (template, clock, window) = await EnsureScenarioAsync(databases, baseDatabase, scenario, cancellationToken);
        var floors = new List<FloorResult>();
        var trials = new List<TrialResult>();
        var feeds = new List<FeedLatency>();
        var strategies = StrategiesOf(scenario);
        for (var trial = 1; trial <= options.Repeat; trial++)
        {
            // The floor too, once a trial: a single measurement on this shared machine moved by a third between runs.
            progress($"{scenario}: trial {trial}/{options.Repeat}, the floor");
            floors.Add(await MeasureFloorAsync(databases, template, scenario, cancellationToken));
            // Alternate the order, so that no strategy always runs first (or last) on a warm server.
            var order = strategies.Skip((trial - 1) % strategies.Count).Concat(strategies.Take((trial - 1) % strategies.Count));
            foreach (var strategy in order)
            {
                progress($"{scenario}: trial {trial}/{options.Repeat}, {strategy}");
                var (result, latencies) = await RunTrialAsync(databases, baseDatabase, template, scenario, strategy, trial, clock, share, firstTrial: trial == 1, cancellationToken);
                trials.Add(result);
                feeds.AddRange(latencies);
            }
        }
        var floor = FloorResult.MedianOf(floors);
        return new ScenarioReport
        {
            Scenario = scenario,
            Window = window,
            Floor = floor,
            Trials = trials,
            Feeds = feeds,
            Strategies = Summarize(trials, floor, scenario),
        };
    }

    private async Task<ScenarioReport> RunFollowAsync(BenchDatabases databases, string baseDatabase, Func<TimeSpan> budgetLeft, CancellationToken cancellationToken) => new()
    {
        Scenario = BenchScenario.Follow,
        Window = $"1x and 10x the site's rate, {options.FollowWindow.TotalSeconds:0} s each, with bmm follow running",
        Follow = await new FollowScenario(databases, baseDatabase, options, logger, progress).RunAsync(budgetLeft, cancellationToken),
    };

    private async Task<FloorResult> MeasureFloorAsync(BenchDatabases databases, string template, BenchScenario scenario, CancellationToken cancellationToken)
    {
        var name = $"bmm_bench_floor_{Environment.ProcessId}";
        await databases.DropAsync(name, cancellationToken);
        await databases.CloneAsync(template, name, cancellationToken);
        try
        {
            await databases.PrewarmAsync(name, cancellationToken);
            await using var dataSource = databases.Open(name);
            if (scenario != BenchScenario.Hour) return await ApplyFloorAsync(dataSource, cancellationToken);
            var total = new FloorResult(0, 0, 0, 0, 0, 0);
            for (var window = 0; window < HourWindows; window++)
            {
                await SimulateAsync(dataSource, window * WindowMinutes, WindowMinutes, cancellationToken);
                var one = await ApplyFloorAsync(dataSource, cancellationToken);
                total = new FloorResult(total.Seconds + one.Seconds, total.Inserted + one.Inserted, total.Updated + one.Updated, total.Deleted + one.Deleted,
                    total.WalBytes + one.WalBytes, one.Models);
            }
            return total;
        }
        finally
        {
            await databases.DropAsync(name, CancellationToken.None);
        }
    }

    private static async Task<FloorResult> ApplyFloorAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await ExecuteAsync(dataSource, BenchSql.PrepareFloor, cancellationToken);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var models = await ScalarAsync<long>(connection, BenchSql.FloorModels, cancellationToken);
        var walBefore = await ScalarAsync<string>(connection, BenchSql.WalPosition, cancellationToken);
        var started = Stopwatch.GetTimestamp();
        long inserted, updated, deleted;
        await using (var apply = new NpgsqlCommand(BenchSql.ApplyFloor, connection) { CommandTimeout = 0 })
        await using (var reader = await apply.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            (inserted, updated, deleted) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
        }
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var wal = await WalSinceAsync(connection, walBefore, cancellationToken);
        await ExecuteAsync(dataSource, BenchSql.DropFloor, cancellationToken);
        return new FloorResult(seconds, inserted, updated, deleted, wal, models);
    }

    private async Task<(TrialResult, List<FeedLatency>)> RunTrialAsync(BenchDatabases databases, string baseDatabase, string template, BenchScenario scenario,
        string strategy, int trial, DateTimeOffset clock, TimeSpan share, bool firstTrial, CancellationToken cancellationToken)
    {
        var name = $"bmm_bench_trial_{Environment.ProcessId}";
        await databases.DropAsync(name, cancellationToken);
        await databases.CloneAsync(template, name, cancellationToken);
        try
        {
            await databases.PrewarmAsync(name, cancellationToken);
            await using var dataSource = databases.Open(name);
            var mirror = strategy == BenchMirror.Strategy
                ? _mirror ?? throw new InvalidOperationException("The clickhouse strategy is measured without a ClickHouse server.")
                : null;
            // The full recomputation loads its mirror itself; a run replays the window into the state before it.
            var inProcess = mirror is not null && scenario == BenchScenario.Full;
            if (mirror is not null && !inProcess)
                await mirror.PrepareTrialAsync(dataSource, name, baseDatabase, emptySite: scenario == BenchScenario.Bulk, cancellationToken);
            var environment = mirror?.Environment(name);
            await using var admin = NpgsqlDataSource.Create(adminConnectionString);
            await using var adminConnection = await admin.OpenConnectionAsync(cancellationToken);
            var blocksBefore = await BlocksAsync(adminConnection, name, cancellationToken);
            var walBefore = await ScalarAsync<string>(adminConnection, BenchSql.WalPosition, cancellationToken);
            var sizesBefore = scenario == BenchScenario.Hour ? await SizesAsync(dataSource, cancellationToken) : default;
            var server = mirror?.Process;
            var peakReset = server?.ResetPeak() ?? false;
            var cpuBefore = server?.CpuTime();

            var deadline = Stopwatch.StartNew();
            var runSeconds = new List<double>();
            var phases = new Dictionary<string, double>();
            long affected = 0, inserted = 0, updated = 0, deleted = 0, unchanged = 0, peak = 0;
            var processSeconds = 0.0;
            string? error = null;
            var exceeded = false;
            var connection = databases.ConnectionString(name);
            var windows = scenario == BenchScenario.Hour ? HourWindows : 1;
            for (var window = 0; window < windows && error is null && !exceeded; window++)
            {
                var runClock = clock;
                if (scenario == BenchScenario.Hour)
                {
                    await SimulateAsync(dataSource, window * WindowMinutes, WindowMinutes, cancellationToken);
                    runClock = SeedTime.AddMinutes((window + 1) * WindowMinutes);
                }
                // A catch-up runs until the backlog is drained, as the scheduler would run it.
                var backlog = true;
                while (backlog && error is null)
                {
                    var left = share - deadline.Elapsed;
                    var output = left <= TimeSpan.Zero ? null
                        : inProcess ? await mirror!.RecomputeAllAsync(connection, name, left, cancellationToken)
                        : await TrialProcess.RunAsync(options.Product, connection, strategy, runClock, left, environment, cancellationToken);
                    if (output is null) { exceeded = true; break; }
                    var json = output.Json;
                    if (json.Outcome != "succeeded")
                    {
                        error = json.Error ?? json.Outcome;
                        break;
                    }
                    runSeconds.Add(json.Seconds);
                    processSeconds += output.ProcessSeconds;
                    affected += json.AffectedModels;
                    inserted += json.Inserted;
                    updated += json.Updated;
                    deleted += json.Deleted;
                    unchanged += json.Unchanged;
                    peak = Math.Max(peak, json.PeakMemoryBytes);
                    foreach (var (phase, seconds) in json.Phases)
                        phases[phase] = phases.GetValueOrDefault(phase) + seconds;
                    backlog = json.BacklogLeft;
                }
            }
            var serverCpu = server is null ? (TimeSpan?)null : server.CpuTime() - cpuBefore!.Value;
            var serverMemory = server?.Memory();

            // Backends flush their statistics as they exit, just after the child process does.
            await Task.Delay(300, cancellationToken);
            var blocksAfter = await BlocksAsync(adminConnection, name, cancellationToken);
            var wal = await WalSinceAsync(adminConnection, walBefore, cancellationToken);
            TableGrowth? growth = null;
            if (scenario == BenchScenario.Hour)
            {
                var after = await SizesAsync(dataSource, cancellationToken);
                growth = new TableGrowth(sizesBefore.Table, after.Table, sizesBefore.Indexes, after.Indexes, after.Dead, after.Autovacuums - sizesBefore.Autovacuums);
            }

            long? drift = null;
            var latencies = new List<FeedLatency>();
            if (firstTrial && !exceeded)
            {
                using var metrics = new JobMetrics();
                var verify = await Verifier.VerifyAsync(dataSource, repairer: null, new JobOptions(), logger, metrics, cancellationToken);
                drift = verify.Drift;
                latencies = await FeedReads.MeasureAsync(dataSource, strategy, options.FeedReads, cancellationToken);
            }

            return (new TrialResult
            {
                Strategy = strategy,
                Trial = trial,
                Exceeded = exceeded,
                Error = error,
                Seconds = runSeconds.Sum(),
                ProcessSeconds = processSeconds,
                RunSeconds = runSeconds,
                Runs = runSeconds.Count,
                PhaseSeconds = phases,
                AffectedModels = affected,
                Inserted = inserted,
                Updated = updated,
                Deleted = deleted,
                Unchanged = unchanged,
                BlocksHit = blocksAfter.Hit - blocksBefore.Hit,
                BlocksRead = blocksAfter.Read - blocksBefore.Read,
                WalBytes = wal,
                PeakMemoryBytes = peak,
                InProcess = inProcess,
                Drift = drift,
                Growth = growth,
                ClickHouseCpuSeconds = serverCpu?.TotalSeconds,
                ClickHouseMemoryBytes = serverMemory is { } memory ? (peakReset ? memory.Peak : memory.Resident) : null,
                ClickHouseMemoryIsPeak = server is null ? null : peakReset,
            }, latencies);
        }
        finally
        {
            await databases.DropAsync(name, CancellationToken.None);
        }
    }

    private static List<StrategySummary> Summarize(List<TrialResult> trials, FloorResult floor, BenchScenario scenario)
    {
        var summaries = trials.GroupBy(t => t.Strategy).Select(group =>
        {
            var done = group.Where(t => !t.Exceeded && t.Error is null).ToList();
            var processes = done.Where(t => !t.InProcess).ToList();
            var seconds = Spread.Of(done.Select(t => t.Seconds));
            return new StrategySummary
            {
                Strategy = group.Key,
                Seconds = seconds,
                TimesFloor = seconds is null || floor.Seconds <= 0 ? null : seconds.Median / floor.Seconds,
                ProcessSecondsMedian = Spread.Of(processes.Select(t => t.ProcessSeconds))?.Median,
                Trials = group.Count(),
                Exceeded = group.Count(t => t.Exceeded),
                Failed = group.Count(t => t.Error is not null),
                Runs = Spread.Of(done.Select(t => (double)t.Runs))?.Median,
                PhaseSecondsMedian = done.SelectMany(t => t.PhaseSeconds.Keys).Distinct()
                    .ToDictionary(phase => phase, phase => Spread.Of(done.Select(t => t.PhaseSeconds.GetValueOrDefault(phase)))!.Median),
                BlocksMedian = Spread.Of(done.Select(t => (double)(t.BlocksHit + t.BlocksRead)))?.Median,
                WalBytesMedian = Spread.Of(done.Select(t => (double)t.WalBytes))?.Median,
                RowsWrittenMedian = Spread.Of(done.Select(t => (double)(t.Inserted + t.Updated + t.Deleted)))?.Median,
                RowsUnchangedMedian = Spread.Of(done.Select(t => (double)t.Unchanged))?.Median,
                PeakMemoryBytesMax = processes.Count == 0 ? null : processes.Max(t => t.PeakMemoryBytes),
                Drift = group.FirstOrDefault(t => t.Drift is not null)?.Drift,
                AffectedModelsMedian = Spread.Of(done.Select(t => (double)t.AffectedModels))?.Median,
                RecomputedPerModel = scenario == BenchScenario.Bulk && floor.Models > 0 && Spread.Of(done.Select(t => (double)t.AffectedModels)) is { } affected
                    ? affected.Median / floor.Models : null,
                ClickHouseCpuSecondsMedian = Spread.Of(done.Where(t => t.ClickHouseCpuSeconds is not null).Select(t => t.ClickHouseCpuSeconds!.Value))?.Median,
                ClickHouseMemoryBytesMax = done.Max(t => t.ClickHouseMemoryBytes),
            };
        }).ToList();
        var phase1 = summaries.FirstOrDefault(s => s.Strategy == "phase1")?.Seconds?.Median;
        var backfill = summaries.FirstOrDefault(s => s.Strategy == TrialProcess.Backfill)?.Seconds?.Median;
        return summaries.Select(s => s with
        {
            RatioToPhase1 = phase1 is > 0 && s.Seconds is not null ? s.Seconds.Median / phase1 : null,
            RatioToBackfill = backfill is > 0 && s.Seconds is not null ? s.Seconds.Median / backfill : null,
        }).ToList();
    }

    private static async Task ReadSettingsAsync(NpgsqlDataSource admin, Dictionary<string, string> settings, CancellationToken cancellationToken)
    {
        await using var command = admin.CreateCommand(BenchSql.Settings);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) settings[reader.GetString(0)] = reader.GetString(1);
    }

    /// <summary>
    /// How much of the machine's memory is in huge pages held by processes (the embedded server's
    /// shared memory, where it got them), from /proc/meminfo; null where that file does not exist.
    /// A new backend maps every shared buffer it touches: with 4 kB pages that is a page fault per
    /// 4 kB, which on a virtual machine doubled a fresh run's time at site scale.
    /// </summary>
    private static string? HugePagesInUse()
    {
        const string MemInfo = "/proc/meminfo";
        if (!File.Exists(MemInfo)) return null;
        var values = File.ReadLines(MemInfo).Select(line => line.Split(':', 2)).Where(parts => parts.Length == 2)
            .ToDictionary(parts => parts[0], parts => parts[1].Trim());
        long Number(string key) => values.TryGetValue(key, out var text) && long.TryParse(text.Split(' ')[0], out var n) ? n : 0;
        var pages = Number("HugePages_Total") - Number("HugePages_Free") + Number("HugePages_Rsvd");
        return $"{pages * Number("Hugepagesize") / 1024} MB";
    }

    private static async Task<(long Hit, long Read)> BlocksAsync(NpgsqlConnection connection, string database, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT pg_stat_clear_snapshot(); " + BenchSql.DatabaseBlocks, connection);
        command.Parameters.AddWithValue("name", database);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.NextResultAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? (reader.GetInt64(0), reader.GetInt64(1)) : (0, 0);
    }

    private static async Task<(long Table, long Indexes, long Dead, long Autovacuums)> SizesAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(BenchSql.TableSizes);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
    }

    private static async Task<long> WalSinceAsync(NpgsqlConnection connection, string since, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(BenchSql.WalBytesSince, connection);
        command.Parameters.AddWithValue("since", since);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task ExecuteAsync(NpgsqlDataSource dataSource, string sql, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(sql);
        command.CommandTimeout = 0;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public static string ToJson(BenchReport report) => JsonSerializer.Serialize(report, new JsonSerializerOptions
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    });
}
