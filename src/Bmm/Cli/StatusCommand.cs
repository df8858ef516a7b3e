using System.CommandLine;
using System.Text.Json;
using Bmm.Capture;
using Bmm.Refresh;
using Bmm.Schema;
using Bmm.Strategies;
using Npgsql;
using Spectre.Console;

namespace Bmm.Cli;

internal static class StatusCommand
{
    public static Command Create()
    {
        var last = new Option<int>("--last") { Description = "How many recent runs to show.", DefaultValueFactory = _ => 10 };
        var command = new Command("status", "Show the positions and lag of the change-log consumers, queue depth, pause state and the last runs.") { last, CommonOptions.Json };
        command.SetAction((parse, ct) => CliApp.ExecuteAsync(parse, ct, async (env, token) =>
        {
            var dataSource = await env.DataSourceAsync(token);
            await Migrator.RequireJobSchemaAsync(dataSource, token);
            var consumer = Reconcile.Reconciler.LagConsumerOf(StrategyCatalog.Create(env.Job.Strategy));
            var state = await JobControl.ReadStateAsync(dataSource, consumer, token);
            var consumers = await ChangeLog.ReadConsumersAsync(dataSource, token);
            var paused = await JobControl.IsPausedAsync(dataSource, token);
            var position = await JobControl.ReadSetBasedPositionAsync(dataSource, token);
            var baselineWatermark = await JobControl.ReadBaselineWatermarkAsync(dataSource, token);
            var runs = await JobControl.ReadRecentRunsAsync(dataSource, Math.Max(parse.GetValue(last), 0), token);
            if (parse.GetValue(CommonOptions.Json))
            {
                Console.WriteLine(JsonSerializer.Serialize(
                    new StatusJson(paused, position, consumer, consumers, baselineWatermark, state.LagSeconds, state.QueueDepth, state.PendingChanges, state.ChangeLogBytes, runs),
                    CliJson.Default.StatusJson));
                return ExitCodes.Success;
            }
            var summary = new Table().AddColumns("", "").HideHeaders();
            summary.AddRow("paused", paused ? "[red]yes[/]" : "no");
            summary.AddRow("setbased position", Markup.Escape(position ?? "-"));
            summary.AddRow("baseline watermark (KeyValue metric:basemodel)", Markup.Escape(baselineWatermark ?? "-"));
            summary.AddRow($"lag ({Markup.Escape(consumer)})", $"{state.LagSeconds:F1}s");
            summary.AddRow("queued model ids", state.QueueDepth.ToString("N0"));
            summary.AddRow($"change-log rows pending ({Markup.Escape(consumer)})", state.PendingChanges.ToString("N0"));
            summary.AddRow("change-log size", $"{state.ChangeLogBytes / 1024.0:N0} KiB");
            AnsiConsole.Write(summary);
            var positions = new Table().AddColumns("consumer", "position", "sweep", "moved (UTC)", "pending rows", "lag");
            foreach (var c in consumers)
                positions.AddRow(Markup.Escape(c.Name), Markup.Escape(c.Position),
                    c.SweepEnd is { } end ? $"below xid {end}, done to model {c.SweepModel}" : "-",
                    c.UpdatedAt.ToString("yyyy-MM-dd HH:mm:ss"), c.Pending.ToString("N0"), $"{c.LagSeconds:F1}s");
            AnsiConsole.Write(positions);
            var history = new Table().AddColumns("run", "strategy", "started (UTC)", "seconds", "outcome", "models", "batches", "ins", "upd", "del", "unchanged");
            foreach (var run in runs)
            {
                history.AddRow(run.Id.ToString(), run.Strategy, run.StartedAt.ToString("yyyy-MM-dd HH:mm:ss"),
                    run.FinishedAt is { } f ? (f - run.StartedAt).TotalSeconds.ToString("F2") : "-",
                    Markup.Escape(run.Outcome + (run.BacklogLeft ? " (backlog)" : "") + (run.Error is null ? "" : ": " + run.Error)),
                    run.AffectedModels.ToString("N0"), run.Batches.ToString(), run.Inserted.ToString("N0"), run.Updated.ToString("N0"),
                    run.Deleted.ToString("N0"), run.Unchanged.ToString("N0"));
            }
            AnsiConsole.Write(history);
            return ExitCodes.Success;
        }));
        return command;
    }
}
