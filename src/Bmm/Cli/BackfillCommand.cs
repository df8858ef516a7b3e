using System.CommandLine;
using Bmm.Backfill;
using Bmm.Schema;
using Bmm.Strategies;
using Bmm.Telemetry;
using Spectre.Console;

namespace Bmm.Cli;

internal static class BackfillCommand
{
    public static Command Create()
    {
        var batchModels = new Option<int>("--batch-models")
        {
            Description = "Models recomputed per transaction.",
            DefaultValueFactory = _ => Backfiller.DefaultBatchModels,
        };
        var command = new Command("backfill", "Rebuild the whole table from the site's tables in short transactions (writes only rows that differ), then remove the rows of deleted models.")
        {
            batchModels, CommonOptions.Json,
        };
        command.SetAction((parse, ct) => CliApp.ExecuteAsync(parse, ct, async (env, token) =>
        {
            var size = parse.GetValue(batchModels);
            if (size < 1) throw new Configuration.UsageException("--batch-models must be at least 1.");
            var dataSource = await env.DataSourceAsync(token);
            await Migrator.RequireSiteTablesAsync(dataSource, token);
            if (parse.GetValue(CommonOptions.Json))
            {
                var quiet = await Backfiller.RunAsync(dataSource, env.Job, size, null, StrategyCatalog.All, env.LoggerFor(LogCategories.Backfill), env.Metrics, token);
                Console.WriteLine(RunJson.Of(quiet).ToJson());
                return ExitCodes.Success;
            }
            BackfillReport? report = null;
            await AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .StartAsync(async progressContext =>
                {
                    var models = progressContext.AddTask("models", maxValue: 1);
                    var orphans = progressContext.AddTask("rows of deleted models", autoStart: false, maxValue: 1);
                    var progress = new SynchronousProgress<BackfillProgress>(p =>
                    {
                        models.MaxValue = Math.Max(p.ModelsTotal, 1);
                        models.Value = p.ModelsDone;
                        if (p.Phase == "deleted models")
                        {
                            models.Value = models.MaxValue;
                            models.StopTask();
                            orphans.StartTask();
                            orphans.IsIndeterminate = true;
                        }
                    });
                    report = await Backfiller.RunAsync(dataSource, env.Job, size, progress, StrategyCatalog.All, env.LoggerFor(LogCategories.Backfill), env.Metrics, token);
                    orphans.IsIndeterminate = false;
                    orphans.Value = orphans.MaxValue;
                    orphans.StopTask();
                });
            var r = report!;
            var table = new Table().AddColumns("", "").HideHeaders();
            table.AddRow("models", r.Models.ToString("N0"));
            table.AddRow("batches", r.Batches.ToString("N0"));
            table.AddRow("rows inserted", r.Inserted.ToString("N0"));
            table.AddRow("rows updated", r.Updated.ToString("N0"));
            table.AddRow("rows deleted", r.Deleted.ToString("N0"));
            table.AddRow("rows left unchanged", r.Unchanged.ToString("N0"));
            if (r.Clamped > 0) table.AddRow("sums clamped to int4", r.Clamped.ToString("N0"));
            table.AddRow("deleted models cleaned up", r.OrphanModels.ToString("N0"));
            table.AddRow("seconds", r.Seconds.ToString("F1"));
            AnsiConsole.Write(table);
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>Reports on the caller's thread (Progress&lt;T&gt; would post to the thread pool and race the bar).</summary>
    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
