using System.CommandLine;
using System.Text.Json;
using Bmm.Oracle;
using Bmm.Schema;

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
            if (doRepair) await Migrator.RequireJobSchemaAsync(dataSource, token);
            var report = await Verifier.VerifyAsync(dataSource, doRepair, env.Job, env.Logger, env.Metrics, token);
            if (parse.GetValue(CommonOptions.Json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    expectedRows = report.ExpectedRows, missing = report.Missing, extra = report.Extra, wrong = report.Wrong,
                    repaired = report.Repaired,
                    samples = report.Samples.Select(s => new { kind = s.Kind, modelId = s.ModelId, baseModel = s.BaseModel, actual = s.Actual, expected = s.Expected }),
                }));
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
