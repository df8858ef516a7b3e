using System.CommandLine;
using System.Text.Json;
using Bmm.Oracle;
using Bmm.Refresh;
using Bmm.Schema;
using Bmm.Strategies;
using Bmm.Telemetry;

namespace Bmm.Cli;

internal static class VerifyCommand
{
    public static Command Create()
    {
        var repair = new Option<bool>("--repair") { Description = "Recompute and rewrite the rows that differ." };
        var command = new Command("verify", "Recompute the whole table with the oracle and compare every column of every row (exit 1 on drift).") { repair, CommonOptions.Json };
        command.SetAction((parse, ct) => CliApp.ExecuteAsync(parse, ct, async (env, token) =>
        {
            var dataSource = await env.DataSourceAsync(token);
            await Migrator.RequireSiteTablesAsync(dataSource, token);
            var doRepair = parse.GetValue(repair);
            IRefreshStrategy? repairer = null;
            if (doRepair)
            {
                await Migrator.RequireJobSchemaAsync(dataSource, token);
                // The strategy that keeps the table repairs it: one whose state is here (so that
                // the state is repaired with the rows), else the configured one.
                repairer = await StateKeepers.KeepingAsync(dataSource, StrategyCatalog.All, token) ?? StrategyCatalog.Create(env.Job.Strategy);
            }
            var report = await Verifier.VerifyAsync(dataSource, repairer, env.Job, env.LoggerFor(LogCategories.Verify), env.Metrics, token);
            if (parse.GetValue(CommonOptions.Json))
            {
                Console.WriteLine(JsonSerializer.Serialize(
                    new VerifyJson(report.ExpectedRows, report.Missing, report.Extra, report.Wrong, report.Repaired, report.Samples),
                    CliJson.Default.VerifyJson));
            }
            else
            {
                Console.WriteLine($"Compared {report.ExpectedRows:N0} expected rows: {report.Missing:N0} missing, {report.Extra:N0} extra, {report.Wrong:N0} wrong.");
                foreach (var sample in report.Samples)
                    Console.WriteLine($"  {sample.Kind,-7} ({sample.ModelId}, {sample.BaseModel}): table {sample.Actual ?? "-"} / oracle {sample.Expected ?? "-"}");
                if (doRepair) Console.WriteLine($"Repaired: {report.Repaired:N0} rows rewritten.");
            }
            return report.Drift == 0 || doRepair ? ExitCodes.Success : ExitCodes.Drift;
        }));
        return command;
    }
}
