using System.CommandLine;
using Bmm.Bench;
using Bmm.Configuration;
using Bmm.Database;
using Bmm.Refresh;
using Bmm.Seeding;
using Bmm.Strategies;
using Bmm.Telemetry;

namespace Bmm.Cli;

internal static class BenchCommand
{
    public static Command Create()
    {
        var scale = new Option<string>("--scale") { Description = "Data set: tiny, small, medium or site.", DefaultValueFactory = _ => "small" };
        var scenario = new Option<string>("--scenario") { Description = "Comma-separated scenarios: steady, catchup, quiet, hour, follow, bulk, full.", DefaultValueFactory = _ => "steady,catchup,quiet,hour,follow" };
        var strategies = new Option<string>("--strategies") { Description = "Comma-separated strategies to compare (the bulk scenario adds backfill; full measures backfill and clickhouse).", DefaultValueFactory = _ => "sequential,phase1,setbased,reviews-mv,incremental" };
        var repeat = new Option<int>("--repeat") { Description = "Trials per strategy and scenario (medians are reported).", DefaultValueFactory = _ => 5 };
        var budget = new Option<double>("--budget") { Description = "Minutes for the whole benchmark; a trial past its share is stopped and reported as such.", DefaultValueFactory = _ => 60 };
        var seed = new Option<int>("--seed") { Description = "Seed of the data and of the simulated windows.", DefaultValueFactory = _ => 42 };
        var rate = new Option<double>("--rate") { Description = "Rate of the simulated windows, as a multiple of the site's.", DefaultValueFactory = _ => 1 };
        var catchupMinutes = new Option<int>("--catchup-minutes") { Description = "Minutes of backlog in the catch-up scenario.", DefaultValueFactory = _ => 24 * 60 };
        var followSeconds = new Option<int>("--follow-seconds") { Description = "Seconds of load and probes in each phase of the follow scenario (1x, 10x, and 1x with a transaction held open).", DefaultValueFactory = _ => 180 };
        var json = new Option<string?>("--json") { Description = "Write the report as JSON to this file." };
        var markdown = new Option<string?>("--markdown") { Description = "Write the report as Markdown to this file." };
        var png = new Option<string?>("--png") { Description = "Draw the chart (log scale) to this PNG file." };
        var product = new Option<string?>("--product")
        {
            Description = "The bmm executable to measure, e.g. the NativeAOT build operators deploy (dotnet publish src/Bmm -c Release -r linux-x64 -o out; --product out/bmm). Default: the bmm beside bmm-tools, a JIT build.",
        };
        var command = new Command("bench", "Measure the strategies side by side against the floor, on identical copies of one database, and the freshness of bmm follow under load.")
        {
            scale, scenario, strategies, repeat, budget, seed, rate, catchupMinutes, followSeconds, json, markdown, png, product,
        };
        command.SetAction((parse, ct) => CliApp.ExecuteAsync(parse, ct, async (env, token) =>
        {
            var names = parse.GetValue(strategies)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (var name in names) StrategyCatalog.Create(name);
            if (parse.GetValue(repeat) < 1) throw new UsageException("--repeat must be at least 1.");
            if (parse.GetValue(budget) <= 0) throw new UsageException("--budget must be a positive number of minutes.");
            if (parse.GetValue(rate) <= 0) throw new UsageException("--rate must be positive.");
            if (parse.GetValue(followSeconds) < 1) throw new UsageException("--follow-seconds must be at least 1.");
            var productPath = parse.GetValue(product) is { } given ? Path.GetFullPath(given) : null;
            if (productPath is not null && !File.Exists(productPath)) throw new UsageException($"--product: there is no file {productPath}.");
            var options = new BenchOptions
            {
                Scale = SeedProfile.Parse(parse.GetValue(scale)!),
                Scenarios = BenchOptions.ParseScenarios(parse.GetValue(scenario)!),
                Strategies = names,
                Repeat = parse.GetValue(repeat),
                Budget = TimeSpan.FromMinutes(parse.GetValue(budget)),
                Seed = parse.GetValue(seed),
                Rate = parse.GetValue(rate),
                CatchupMinutes = Math.Max(1, parse.GetValue(catchupMinutes)),
                FollowWindow = TimeSpan.FromSeconds(parse.GetValue(followSeconds)),
                JsonPath = parse.GetValue(json),
                MarkdownPath = parse.GetValue(markdown),
                PngPath = parse.GetValue(png),
                Product = productPath,
            };
            var embedded = string.IsNullOrWhiteSpace(env.Connection);
            // The benchmark creates its databases beside the one it is pointed at.
            if (!embedded) await env.DataSourceAsync(token);
            var admin = embedded ? await EmbeddedPostgres.EnsureAsync("postgres", env.LoggerFor(LogCategories.Tools), token) : env.Connection!;
            // The clickhouse strategy's server, as bmm run would find it (section ClickHouse, else bmm's own).
            var clickHouse = options.Strategies.Contains(BenchMirror.Strategy) || options.Scenarios.Contains(BenchScenario.Full)
                ? (await env.ClickHouseMirrorAsync(token)).Client.Options
                : null;
            var runner = new BenchRunner(admin, options, embedded, clickHouse, env.LoggerFor(LogCategories.Tools),
                message => Console.Error.WriteLine($"{DateTime.UtcNow:HH:mm:ss} bench: {message}"));
            var report = await runner.RunAsync(RecordedCommand(Environment.GetCommandLineArgs().Skip(1)), token);
            var text = BenchMarkdown.Render(report);
            Console.WriteLine(text);
            if (options.MarkdownPath is { } md) await File.WriteAllTextAsync(md, text, token);
            if (options.JsonPath is { } path) await File.WriteAllTextAsync(path, BenchRunner.ToJson(report), token);
            if (options.PngPath is { } image) BenchChart.Save(report, image);
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>
    /// The command line as the report records it, its connection string without a password: the
    /// report is written to be shared. One that does not parse is left out whole.
    /// </summary>
    private static string RecordedCommand(IEnumerable<string> arguments)
    {
        var name = CommonOptions.Connection.Name;
        var recorded = new List<string> { "bmm" };
        var connectionNext = false;
        foreach (var argument in arguments)
        {
            if (connectionNext) recorded.Add(WithoutPassword(argument));
            // The option's value after either delimiter System.CommandLine accepts, '=' or ':'.
            else if (argument.Length > name.Length && argument.StartsWith(name, StringComparison.Ordinal) && argument[name.Length] is '=' or ':')
                recorded.Add(argument[..(name.Length + 1)] + WithoutPassword(argument[(name.Length + 1)..]));
            else recorded.Add(argument);
            connectionNext = argument == name;
        }
        return string.Join(' ', recorded);
    }

    private static string WithoutPassword(string connectionString)
    {
        try
        {
            var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
            builder.Remove("Password");
            return builder.ConnectionString;
        }
        catch (ArgumentException)
        {
            return "<connection string>";
        }
    }
}
