using System.CommandLine;
using Bmm.Seeding;
using Bmm.Telemetry;
using Npgsql;
using Spectre.Console;

namespace Bmm.Cli;

internal static class SeedCommand
{
    public static Command Create()
    {
        var scale = new Option<string>("--scale")
        {
            Description = "How large: tiny (~2,000 models), small (~30,000), medium (~200,000) or site (~1,000,000 models, 5 million reviews).",
            DefaultValueFactory = _ => "small",
        };
        scale.AcceptOnlyFromAmong(SeedProfile.Names);
        var seed = new Option<int>("--seed") { Description = "Seed of the random draws: the same seed gives the same data.", DefaultValueFactory = _ => 42 };
        var replace = new Option<bool>("--replace") { Description = "Truncate the site's tables, the change log and the queue first, instead of refusing a database that holds data." };
        var captured = new Option<bool>("--captured")
        {
            Description = "Load as the site's writers would, a transaction per table with the capture and the site's triggers on, and leave the table for the job to catch up with (a bulk load to drain).",
        };
        var command = new Command("seed", "Fill a database migrated with --with-site-schema with a deterministic synthetic site, and the table as the oracle computes it.")
        {
            scale, seed, replace, captured,
        };
        command.SetAction((parse, ct) => CliApp.ExecuteAsync(parse, ct, async (env, token) =>
        {
            var options = new SeedOptions
            {
                Scale = SeedProfile.Parse(parse.GetValue(scale)!), Seed = parse.GetValue(seed), Replace = parse.GetValue(replace), Captured = parse.GetValue(captured),
            };
            var dataSource = await env.DataSourceAsync(token);
            var report = await SeedWithProgressAsync(dataSource, options, env, token);
            Print(report);
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>Seeds with a progress bar per step on an interactive terminal, quietly otherwise.</summary>
    internal static async Task<SeedReport> SeedWithProgressAsync(NpgsqlDataSource dataSource, SeedOptions options, CommandEnvironment env, CancellationToken cancellationToken)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive)
            return await Seeder.SeedAsync(dataSource, options, env.Time, env.LoggerFor(LogCategories.Tools), null, cancellationToken);
        SeedReport? report = null;
        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                report = await Seeder.SeedAsync(dataSource, options, env.Time, env.LoggerFor(LogCategories.Tools), new ProgressBars(context), cancellationToken);
            });
        return report!;
    }

    internal static void Print(SeedReport report)
    {
        var table = new Table().AddColumns("", "").HideHeaders();
        table.AddRow("scale, seed", $"{report.Scale.ToString().ToLowerInvariant()}, {report.Seed}");
        table.AddRow("\"Model\"", report.Models.ToString("N0"));
        table.AddRow("\"ModelVersion\"", report.Versions.ToString("N0"));
        table.AddRow("\"ModelVersionMetric\"", report.VersionMetrics.ToString("N0"));
        table.AddRow("\"ResourceReview\"", report.Reviews.ToString("N0"));
        table.AddRow(report.Captured ? "\"ModelBaseModelMetric\" (the site's zero rows; the job catches up)" : "\"ModelBaseModelMetric\" (as the oracle computes it)",
            report.AggregateRows.ToString("N0"));
        table.AddRow("base models, users", $"{report.BaseModels:N0}, {report.Users:N0}");
        table.AddRow("watermark and change-log position", $"moved to {report.Watermark.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC");
        foreach (var (step, seconds) in report.StepSeconds) table.AddRow($"  {Markup.Escape(step)}", $"{seconds:F1}s");
        table.AddRow("total", $"{report.TotalSeconds:F1}s");
        AnsiConsole.Write(table);
    }

    /// <summary>One Spectre progress bar per seed step.</summary>
    private sealed class ProgressBars(ProgressContext context) : ISeedProgress
    {
        private readonly Dictionary<string, ProgressTask> _tasks = [];

        public void Begin(string step, long total)
        {
            lock (_tasks) _tasks[step] = context.AddTask(Markup.Escape(step), maxValue: Math.Max(total, 1));
        }

        public void Advance(string step, long units)
        {
            lock (_tasks) _tasks[step].Increment(units);
        }

        public void Complete(string step)
        {
            lock (_tasks)
            {
                var task = _tasks[step];
                task.Value = task.MaxValue;
                task.StopTask();
            }
        }
    }
}
