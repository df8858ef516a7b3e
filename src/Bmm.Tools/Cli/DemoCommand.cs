using System.CommandLine;
using System.Diagnostics;
using Bmm.Configuration;
using Bmm.Database;
using Bmm.Oracle;
using Bmm.Refresh;
using Bmm.Schema;
using Bmm.Seeding;
using Bmm.Strategies;
using Bmm.Strategies.SetBased;
using Bmm.Telemetry;
using Npgsql;
using Spectre.Console;

namespace Bmm.Cli;

internal static class DemoCommand
{
    /// <summary>The base models whose feeds the demo shows, when the data has them.</summary>
    private static readonly string[] FeaturedBaseModels = ["SDXL 1.0", "Pony", "Illustrious"];

    private static readonly (string Name, string Sql)[] FeedSorts =
    [
        ("highest rated", DemoSql.HighestRated),
        ("most downloaded", DemoSql.MostDownloaded),
        ("image count", DemoSql.ImageCount),
    ];

    private const int FeedPageSize = 5;

    public static Command Create()
    {
        var command = new Command("demo",
            "On the embedded server: recreate the database 'bmm', seed a small synthetic site, simulate 5 minutes of its traffic, " +
            "run one setbased refresh, verify it against the oracle (exit 1 on drift) and show the feeds.");
        command.SetAction((parse, ct) => CliApp.ExecuteAsync(parse, ct, async (env, token) =>
        {
            if (!string.IsNullOrWhiteSpace(env.Connection))
                throw new UsageException($"The demo drops and recreates the embedded database \"{ConnectionResolver.EmbeddedDatabase}\", so it runs only on the embedded server: leave out --connection and BMM_CONNECTION.");
            var started = Stopwatch.GetTimestamp();

            Step(1, $"Recreating the embedded database \"{ConnectionResolver.EmbeddedDatabase}\" with the site schema");
            var admin = await EmbeddedPostgres.EnsureAsync("postgres", env.LoggerFor(LogCategories.Tools), token);
            await using (var adminSource = NpgsqlDataSource.Create(admin))
            {
                await ExecuteAsync(adminSource, DemoSql.DropDatabase, token);
                await ExecuteAsync(adminSource, DemoSql.CreateDatabase, token);
            }
            ToolsLog.DemoDatabaseRecreated(env.LoggerFor(LogCategories.Tools), ConnectionResolver.EmbeddedDatabase);
            var dataSource = await env.DataSourceAsync(token);
            var migration = await Migrator.MigrateAsync(dataSource, withSiteSchema: true, token);
            AnsiConsole.WriteLine($"Applied {migration.ScriptsApplied.Count} migrations and {migration.TriggersAdded.Count} capture triggers.");

            Step(2, "Seeding a small synthetic site (deterministic, seed 42)");
            var seed = await SeedCommand.SeedWithProgressAsync(dataSource, new SeedOptions { Scale = SeedScale.Small, Seed = 42 }, env, token);
            SeedCommand.Print(seed);

            Step(3, "Simulating 5 minutes of the site's traffic");
            var simulation = await new ChangeSimulator(dataSource, env.LoggerFor(LogCategories.Tools), env.Time).RunAsync(new SimulationOptions { Minutes = 5, Seed = 42 }, token);
            SimulateCommand.Print(simulation);

            Step(4, "Running one setbased refresh");
            var runner = new RefreshRunner(dataSource, env.Job, env.Time, env.LoggerFor(LogCategories.Tools), env.Metrics, StrategyCatalog.All);
            var run = await runner.RunOnceAsync(new SetBasedStrategy(), token);
            RunCommand.Print(run);

            Step(5, "Verifying the whole table against the oracle");
            var verify = await Verifier.VerifyAsync(dataSource, repairer: null, env.Job, env.LoggerFor(LogCategories.Tools), env.Metrics, token);
            AnsiConsole.MarkupLine(verify.Drift == 0
                ? $"[green]No drift:[/] all {verify.ExpectedRows:N0} rows equal a recomputation from scratch."
                : $"[red]Drift:[/] {verify.Missing:N0} missing, {verify.Extra:N0} extra, {verify.Wrong:N0} wrong of {verify.ExpectedRows:N0} rows.");
            foreach (var sample in verify.Samples)
                AnsiConsole.WriteLine($"  {sample.Kind,-7} ({sample.ModelId}, {sample.BaseModel}): table {sample.Actual ?? "-"} / oracle {sample.Expected ?? "-"}");

            Step(6, $"The feeds: top {FeedPageSize} of three base models, read from \"ModelBaseModelMetric\"");
            foreach (var baseModel in await ChooseBaseModelsAsync(dataSource, token))
                AnsiConsole.Write(await FeedTableAsync(dataSource, baseModel, token));

            AnsiConsole.MarkupLine($"Demo finished in {Stopwatch.GetElapsedTime(started).TotalSeconds:F1}s.");
            return verify.Drift == 0 ? ExitCodes.Success : ExitCodes.Drift;
        }));
        return command;
    }

    private static void Step(int number, string title) =>
        AnsiConsole.Write(new Rule($"[bold]{number}. {Markup.Escape(title)}[/]").LeftJustified());

    /// <summary>"SDXL 1.0", "Pony" and "Illustrious" when all three have rows, else the three largest.</summary>
    private static async Task<List<string>> ChooseBaseModelsAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var sizes = new List<string>();
        await using var command = dataSource.CreateCommand(DemoSql.BaseModelSizes);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) sizes.Add(reader.GetString(0));
        return FeaturedBaseModels.All(sizes.Contains) ? [.. FeaturedBaseModels] : sizes.Take(FeaturedBaseModels.Length).ToList();
    }

    private static async Task<Table> FeedTableAsync(NpgsqlDataSource dataSource, string baseModel, CancellationToken cancellationToken)
    {
        var table = new Table()
            .Title($"[bold]{Markup.Escape(baseModel)}[/]")
            .AddColumns("sort", "#", "model")
            .AddColumn(new TableColumn("thumbs up").RightAligned())
            .AddColumn(new TableColumn("downloads").RightAligned())
            .AddColumn(new TableColumn("images").RightAligned());
        foreach (var (sort, sql) in FeedSorts)
        {
            await using var command = dataSource.CreateCommand(sql);
            command.Parameters.AddWithValue("base_model", baseModel);
            command.Parameters.AddWithValue("limit", FeedPageSize);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var rank = 0;
            while (await reader.ReadAsync(cancellationToken))
            {
                rank++;
                table.AddRow(rank == 1 ? sort : "", rank.ToString(), $"{Markup.Escape(reader.GetString(1))} [dim]#{reader.GetInt32(0)}[/]",
                    reader.GetInt32(2).ToString("N0"), reader.GetInt32(3).ToString("N0"), reader.GetInt32(4).ToString("N0"));
            }
            if (sort != FeedSorts[^1].Name) table.AddEmptyRow();
        }
        return table;
    }

    private static async Task ExecuteAsync(NpgsqlDataSource dataSource, string sql, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
