using System.CommandLine;
using System.Globalization;
using Bmm.Configuration;
using Bmm.Schema;
using Bmm.Seeding;
using Bmm.Telemetry;
using Spectre.Console;

namespace Bmm.Cli;

internal static class SimulateCommand
{
    public static Command Create()
    {
        var minutes = new Option<int>("--minutes") { Description = "Simulated minutes of site changes.", Required = true };
        var rate = new Option<string>("--rate")
        {
            Description = "The churn: 'site' (the site's measured rate) or a multiplier of it, such as 0.1 or 10.",
            DefaultValueFactory = _ => "site",
        };
        var seed = new Option<int>("--seed") { Description = "Seed of the random choices: on the same data, the same seed makes the same changes.", DefaultValueFactory = _ => 42 };
        var start = new Option<string?>("--start") { Description = "The simulated clock's start, ISO 8601 (UTC unless an offset is given); default the \"KeyValue\" watermark, else now." };
        var command = new Command("simulate", "Apply the changes the site sees in some minutes (metric bulk updates, reviews, versions, model edits), deterministic for a seed.")
        {
            minutes, rate, seed, start,
        };
        command.SetAction((parse, ct) => CliApp.ExecuteAsync(parse, ct, async (env, token) =>
        {
            var options = new SimulationOptions
            {
                Minutes = parse.GetValue(minutes),
                Rate = ParseRate(parse.GetValue(rate) ?? "site"),
                Seed = parse.GetValue(seed),
                Start = ParseStart(parse.GetValue(start)),
            };
            var dataSource = await env.DataSourceAsync(token);
            await Migrator.RequireSiteTablesAsync(dataSource, token);
            var summary = await new ChangeSimulator(dataSource, env.LoggerFor(LogCategories.Tools), env.Time).RunAsync(options, token);
            Print(summary);
            return ExitCodes.Success;
        }));
        return command;
    }

    internal static double ParseRate(string text) =>
        text.Equals("site", StringComparison.OrdinalIgnoreCase) ? 1.0
        : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var rate) && rate > 0 && rate <= 1000 ? rate
        : throw new UsageException($"--rate '{text}' is neither 'site' nor a multiplier above 0 and at most 1000.");

    internal static DateTime? ParseStart(string? text) =>
        text is null ? null
        : DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var start)
            ? start.UtcDateTime
            : throw new UsageException($"--start '{text}' is not an ISO 8601 time, such as 2025-10-01T12:00:00Z.");

    internal static void Print(SimulationSummary s)
    {
        var table = new Table().AddColumns("change", "count").HideHeaders();
        table.AddRow("simulated", $"{s.Minutes:N0} minutes at {s.Rate:0.###}x the site's rate (seed {s.Seed}), {s.SimulatedStart:yyyy-MM-dd HH:mm:ss} to {s.SimulatedEnd:HH:mm:ss} UTC");
        table.AddRow("version-metric rows updated", $"{s.MetricRows:N0} in {s.MetricStatements:N0} bulk statements, {s.MetricModelsPerMinute:N0} models a minute");
        table.AddRow("reviews created / edited / deleted", $"{s.ReviewsCreated:N0} / {s.ReviewsEdited:N0} / {s.ReviewsDeleted:N0}, {s.ReviewModelsPerMinute:N1} models a minute");
        table.AddRow("versions created / published / unpublished / moved", $"{s.VersionsCreated:N0} / {s.VersionsPublished:N0} / {s.VersionsUnpublished:N0} / {s.VersionsMoved:N0}");
        table.AddRow("model edits (of the six copied columns)", $"{s.ModelEdits:N0} ({s.DenormalizedEdits:N0})");
        table.AddRow("models deleted", s.ModelsDeleted.ToString("N0"));
        table.AddRow("transactions, distinct models touched", $"{s.Transactions:N0}, {s.DistinctModels:N0}");
        table.AddRow("wall time", $"{s.WallSeconds:F1}s");
        AnsiConsole.Write(table);
    }
}
