using System.Globalization;
using System.Text;

namespace Bmm.Bench;

/// <summary>The report as Markdown tables, for docs/benchmarks.md.</summary>
public static class BenchMarkdown
{
    public static string Render(BenchReport report)
    {
        var md = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        md.AppendLine(c, $"Command: `{report.Command}`  ");
        md.AppendLine(c, $"Product: {report.Product}.  ");
        md.AppendLine(c, $"Machine: {report.Machine}; started {report.StartedAt:yyyy-MM-dd HH:mm} UTC, took {report.Seconds / 60:F1} min.  ");
        md.AppendLine($"Data ({report.Scale}, seed {report.Seed}): " + string.Join(", ", report.DataSize.Select(kv => $"{kv.Value:N0} {kv.Key}")) + ".  ");
        md.AppendLine("Server: " + string.Join(", ", report.Settings.Select(kv => $"{kv.Key}={kv.Value}")) + (report.ClickHouse is null ? "." : ".  "));
        if (report.ClickHouse is { } where) md.AppendLine(c, $"ClickHouse: {where}.");
        md.AppendLine();
        foreach (var scenario in report.Scenarios)
        {
            md.AppendLine(c, $"### {scenario.Scenario} ({scenario.Window})");
            md.AppendLine();
            if (scenario.Follow is { } follow)
            {
                RenderFollow(md, follow);
                continue;
            }
            if (scenario.Floor is { } floor)
                md.AppendLine(c, $"Floor: {Seconds(floor.Seconds)}{(floor.Trials is { } t && t.Max > t.Min ? $" (median of one per trial, {Seconds(t.Min)}–{Seconds(t.Max)})" : "")} to write the {floor.Inserted + floor.Updated + floor.Deleted:N0} rows the window requires ({floor.Inserted:N0} inserted, {floor.Updated:N0} updated, {floor.Deleted:N0} deleted; {floor.WalBytes / 1048576.0:F1} MB of WAL).");
            md.AppendLine();
            // Columns of the clickhouse strategy and of backfill, only where they are measured.
            var server = scenario.Strategies.Any(s => s.ClickHouseCpuSecondsMedian is not null);
            var backfill = scenario.Strategies.Any(s => s.RatioToBackfill is not null);
            md.AppendLine("| strategy | time, median (min–max) | × floor | ÷ phase1 |" + (backfill ? " ÷ backfill |" : "") +
                " whole processes (start-up) | runs | models recomputed | rows written | rows unchanged | blocks touched | WAL MB | peak MB |" +
                (server ? " ClickHouse CPU | ClickHouse MB |" : "") + " equals oracle |");
            md.AppendLine("|---|---|---|---|" + (backfill ? "---|" : "") + "---|---|---|---|---|---|---|---|" + (server ? "---|---|" : "") + "---|");
            foreach (var s in scenario.Strategies)
            {
                var time = s.Seconds is { } t ? $"{Seconds(t.Median)} ({Seconds(t.Min)}–{Seconds(t.Max)})" : "–";
                if (s.Exceeded > 0) time += $"; {s.Exceeded}/{s.Trials} stopped at the budget";
                if (s.Failed > 0) time += $"; {s.Failed}/{s.Trials} failed";
                var models = Count(s.AffectedModelsMedian) + (s.RecomputedPerModel is { } each ? $" ({each.ToString("0.00", c)} per model)" : "");
                var process = s.ProcessSecondsMedian is { } p && s.Seconds is { } inJob ? $"{Seconds(p)} (+{Seconds(Math.Max(0, p - inJob.Median))})" : "–";
                var toBackfill = backfill ? $" {Ratio(s.RatioToBackfill)} |" : "";
                var clickHouse = server ? $" {(s.ClickHouseCpuSecondsMedian is { } cpu ? Seconds(cpu) : "–")} | {Mb(s.ClickHouseMemoryBytesMax)}{PeakOrAfter(scenario, s.Strategy)} |" : "";
                md.AppendLine(c, $"| {s.Strategy} | {time} | {Ratio(s.TimesFloor)} | {Ratio(s.RatioToPhase1)} |{toBackfill} {process} | {s.Runs?.ToString("0", c) ?? "–"} | {models} | {Count(s.RowsWrittenMedian)} | {Count(s.RowsUnchangedMedian)} | {Count(s.BlocksMedian)} | {Mb(s.WalBytesMedian)} | {Mb(s.PeakMemoryBytesMax)} |{clickHouse} {Drift(s.Drift)} |");
            }
            md.AppendLine();
            if (server)
            {
                md.AppendLine("ClickHouse CPU: the server's user + system seconds over a trial's runs (median); ClickHouse MB: its resident memory, the peak over the runs (VmHWM, reset before them) or, marked \"after\", the RSS after them (largest over the trials).");
                md.AppendLine();
            }
            if (scenario.Trials.Any(t => t.InProcess))
            {
                md.AppendLine("clickhouse here is `bmm clickhouse load` then `bmm clickhouse recompute` (Job:BatchSize models a transaction), called inside bmm-tools: no whole-process time or peak memory of its own.");
                md.AppendLine();
            }
            if (scenario.Scenario == BenchScenario.Full && FullRecompute(scenario) is { } full)
            {
                md.AppendLine(full);
                md.AppendLine();
            }
            var phases = scenario.Strategies.Where(s => s.PhaseSecondsMedian.Count > 0).ToList();
            if (phases.Count > 0)
            {
                md.AppendLine("Time per phase (median): " + string.Join("; ", phases.Select(s =>
                    $"{s.Strategy}: " + string.Join(", ", s.PhaseSecondsMedian.Select(p => $"{p.Key} {Seconds(p.Value)}")))) + ".");
                md.AppendLine();
            }
            foreach (var trial in scenario.Trials.Where(t => t.Growth is not null && t.Trial == 1))
            {
                var g = trial.Growth!;
                md.AppendLine($"Growth over the hour, {trial.Strategy}: table {g.TableBytesBefore / 1048576.0:F1} → {g.TableBytesAfter / 1048576.0:F1} MB, indexes {g.IndexBytesBefore / 1048576.0:F1} → {g.IndexBytesAfter / 1048576.0:F1} MB, {g.DeadTuplesAfter:N0} dead tuples after, {g.AutovacuumsDuring} autovacuums; run times " + string.Join(", ", trial.RunSeconds.Select(Seconds)) + ".  ");
            }
            if (scenario.Feeds.Count > 0)
            {
                md.AppendLine();
                md.AppendLine("Feed reads after the refresh (p50 / p99 ms, 100 rows a page):");
                md.AppendLine();
                md.AppendLine("| strategy | base model | sort | page | p50 | p99 |");
                md.AppendLine("|---|---|---|---|---|---|");
                foreach (var f in scenario.Feeds)
                    md.AppendLine(c, $"| {f.Strategy} | {f.BaseModel} | {f.Sort} | {f.Page} | {f.P50Ms:F2} | {f.P99Ms:F2} |");
            }
            md.AppendLine();
        }
        return md.ToString();
    }

    private static void RenderFollow(StringBuilder md, FollowReport follow)
    {
        var c = CultureInfo.InvariantCulture;
        if (follow.Error is { } error) md.AppendLine(c, $"Failed: {error}").AppendLine();
        if (follow.Note is { } note) md.AppendLine(c, $"Note: {note}.").AppendLine();
        if (follow.ReviewStatsRefreshSeconds is { } refresh)
            md.AppendLine(c, $"`REFRESH MATERIALIZED VIEW CONCURRENTLY bmm.review_stats` on the same data: {Seconds(refresh)} (reviews-mv's thumbs-up counts are stale by up to Job:ReviewsMvRefreshMinutes plus that).").AppendLine();
        if (follow.Rates.Count == 0) return;
        md.AppendLine(c, $"Commit to visible row: a probe adds one download to version {follow.ProbeVersionId} (model {follow.ProbeModelId}, {follow.ProbeBaseModel}, the median pair by downloads) every 200 ms in its own transaction; its row is read every 5 ms.");
        md.AppendLine();
        md.AppendLine("| rate | seconds | probes | p50 | p99 | max | not seen | voided | metric rows / min | review changes / min | transactions / min | simulator busy |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in follow.Rates)
            md.AppendLine(c, $"| {r.Rate:0.##}x{(r.HeldTransaction ? FollowRate.HeldTransactionLabel : "")} | {r.Seconds:F0} | {r.Probes:N0} | {Ms(r.P50Ms)} | {Ms(r.P99Ms)} | {Ms(r.MaxMs)} | {r.Unseen:N0} | {r.Voided:N0} | {r.MetricRowsPerMinute:N0} | {r.ReviewChangesPerMinute:N0} | {r.TransactionsPerMinute:N0} | {r.SimulatorSeconds:F1} s |");
        md.AppendLine();
    }

    /// <summary>The clickhouse strategy's load and recomputation beside backfill, in words.</summary>
    private static string? FullRecompute(ScenarioReport scenario)
    {
        var backfill = scenario.Strategies.FirstOrDefault(s => s.Strategy == TrialProcess.Backfill)?.Seconds?.Median;
        var clickHouse = scenario.Strategies.FirstOrDefault(s => s.Strategy == BenchMirror.Strategy);
        if (backfill is not > 0 || clickHouse?.Seconds is null
            || !clickHouse.PhaseSecondsMedian.TryGetValue("load", out var load) || !clickHouse.PhaseSecondsMedian.TryGetValue("recompute", out var recompute))
            return null;
        var c = CultureInfo.InvariantCulture;
        return string.Create(c, $"Every pair recomputed: backfill {Seconds(backfill.Value)}; clickhouse {Seconds(clickHouse.Seconds.Median)} = load {Seconds(load)} + recompute {Seconds(recompute)} (medians), ") +
            string.Create(c, $"{Ratio(clickHouse.Seconds.Median / backfill.Value)}x backfill's time with the load, {Ratio(recompute / backfill.Value)}x without it (a mirror already loaded).");
    }

    /// <summary>" after" when a trial of the strategy could not reset the server's peak, so that its figure is the RSS after the runs.</summary>
    private static string PeakOrAfter(ScenarioReport scenario, string strategy) =>
        scenario.Trials.Any(t => t.Strategy == strategy && t.ClickHouseMemoryIsPeak == false) ? " after" : "";

    private static string Ms(double? ms) => ms is { } v ? v.ToString("0", CultureInfo.InvariantCulture) + " ms" : "–";
    private static string Seconds(double s) => s < 1 ? $"{s * 1000:F1} ms" : $"{s:F2} s";
    private static string Ratio(double? r) => r is { } v ? v.ToString("0.00", CultureInfo.InvariantCulture) : "–";
    private static string Count(double? n) => n is { } v ? v.ToString("N0", CultureInfo.InvariantCulture) : "–";
    private static string Mb(double? bytes) => bytes is { } v ? (v / 1048576.0).ToString("F1", CultureInfo.InvariantCulture) : "–";
    private static string Drift(long? drift) => drift switch { null => "not checked", 0 => "yes", var d => $"no: {d:N0} rows differ" };
}
