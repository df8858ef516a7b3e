using System.CommandLine;
using Bmm.Refresh;
using Bmm.Schema;
using Bmm.Strategies;
using Bmm.Strategies.ClickHouse;
using Bmm.Telemetry;
using Spectre.Console;

namespace Bmm.Cli;

internal static class RunCommand
{
    public static readonly Option<string?> Strategy = new("--strategy")
    {
        Description = "How to compute the refresh: " + string.Join(", ", StrategyCatalog.Names) + " (default: Job:Strategy, setbased).",
    };

    public static readonly Option<DateTimeOffset?> Clock = new("--clock")
    {
        Description = "Treat this instant (ISO 8601) as now for the baselines' timestamp watermark and reviews-mv's refresh interval, to replay a simulated window.",
        CustomParser = result =>
        {
            var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var instant))
                return instant;
            result.AddError($"--clock '{text}' is not an instant: give it as ISO 8601, e.g. 2026-11-29T12:00:00Z.");
            return null;
        },
    };

    public static Command Create()
    {
        var command = new Command("run", "Run one refresh cycle and print what it did.") { Strategy, Clock, CommonOptions.Json };
        command.SetAction((parse, ct) => CliApp.ExecuteAsync(parse, ct, async (env, token) =>
        {
            var strategy = StrategyCatalog.Create(env.Job.Strategy);
            var dataSource = await env.DataSourceAsync(token);
            await Migrator.RequireJobSchemaAsync(dataSource, token);
            TimeProvider time = parse.GetValue(Clock) is { } clock ? new FixedTimeProvider(clock) : env.Time;
            var runner = new RefreshRunner(dataSource, env.Job, time, env.LoggerFor(LogCategories.Refresh), env.Metrics, StrategyCatalog.All,
                strategy is ClickHouseStrategy ? await env.ClickHouseMirrorAsync(token) : null);
            var report = await runner.RunOnceAsync(strategy, token);
            if (parse.GetValue(CommonOptions.Json)) Console.WriteLine(RunJson.Of(report).ToJson());
            else if (report.Outcome == RunOutcome.SkippedLocked)
                Console.WriteLine($"Skipped: {await RunnerLock.DescribeHolderAsync(dataSource, token)} holds the runner lock.");
            else Print(report);
            return report.Outcome == RunOutcome.Failed ? ExitCodes.Failed : ExitCodes.Success;
        }, [new("Job:Strategy", parse.GetValue(Strategy))]));
        return command;
    }

    internal static void Print(RunReport report)
    {
        switch (report.Outcome)
        {
            case RunOutcome.SkippedLocked:
                Console.WriteLine("Skipped: another runner holds the lock.");
                return;
            case RunOutcome.SkippedPaused:
                Console.WriteLine("Skipped: the job is paused (bmm resume to continue).");
                return;
            case RunOutcome.Failed:
                Console.Error.WriteLine($"Run {report.RunId} ({report.Strategy}) failed after {report.Seconds:F2}s: {Database.Errors.Describe(report.Error!)}");
                Console.Error.WriteLine("The position and the table are as the last committed batch left them; the next run redoes the rest.");
                if (report.Result is not { Batches: > 0 }) return;
                Console.WriteLine("Committed before the failure:");
                break;
        }
        var r = report.Result!;
        var table = new Table().AddColumns("", "");
        table.AddRow("run", $"{report.RunId} ({report.Strategy})");
        table.AddRow("affected models", r.AffectedModels.ToString("N0"));
        table.AddRow("batches", r.Batches.ToString("N0"));
        table.AddRow("rows inserted / updated / deleted", $"{r.Inserted:N0} / {r.Updated:N0} / {r.Deleted:N0}");
        table.AddRow("rows left unchanged", r.Unchanged.ToString("N0"));
        if (r.Clamped > 0) table.AddRow("sums clamped to int4", r.Clamped.ToString("N0"));
        if (r.BacklogLeft) table.AddRow("backlog", "budget reached; the rest is carried to the next run");
        if (r.Watermark is not null) table.AddRow("watermark", r.Watermark);
        foreach (var (phase, seconds) in r.PhaseSeconds) table.AddRow($"  {phase}", $"{seconds:F3}s");
        table.AddRow("total", $"{report.Seconds:F3}s");
        table.HideHeaders();
        AnsiConsole.Write(table);
    }
}
