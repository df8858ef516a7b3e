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
            IRefreshStrategy? keeper = null;
            // A site database without the job's objects is compared strictly (nothing can be
            // pending there); a repair needs them.
            var schema = await Migrator.JobSchemaAsync(dataSource, token);
            if (doRepair || schema != JobSchema.Missing)
            {
                Migrator.Require(schema);
                // The strategy that keeps the table: one whose state is here (so that the state is
                // repaired with the rows), else the configured one. What its consumer has not
                // applied yet is pending, not drift.
                keeper = await StateKeepers.KeepingAsync(dataSource, StrategyCatalog.All, token) ?? StrategyCatalog.Create(env.Job.Strategy);
            }
            var report = await Verifier.VerifyAsync(dataSource, doRepair ? keeper : null, env.Job, env.LoggerFor(LogCategories.Verify), env.Metrics, token,
                pendingConsumer: keeper?.Consumer);
            if (parse.GetValue(CommonOptions.Json))
            {
                Console.WriteLine(JsonSerializer.Serialize(
                    new VerifyJson(report.ExpectedRows, report.Missing, report.Extra, report.Wrong, report.Pending, report.Repaired, report.Queued, report.Samples),
                    CliJson.Default.VerifyJson));
            }
            else
            {
                Console.WriteLine($"Compared {report.ExpectedRows:N0} expected rows: {report.Missing:N0} missing, {report.Extra:N0} extra, {report.Wrong:N0} wrong.");
                foreach (var sample in report.Samples)
                    Console.WriteLine($"  {sample.Kind,-7} ({sample.ModelId}, {sample.BaseModel}): table {sample.Actual ?? "-"} / oracle {sample.Expected ?? "-"}");
                if (report.Pending > 0)
                    Console.WriteLine($"Left out: {report.Pending:N0} rows of models with changes the job has not applied yet (pending, not drift).");
                if (report.Queued > 0)
                    Console.WriteLine($"Queued: {report.Queued:N0} drifted models for the runner holding the lock, which applies the queue first.");
                else if (doRepair) Console.WriteLine($"Repaired: {report.Repaired:N0} rows rewritten.");
            }
            return report.Drift == 0 || doRepair ? ExitCodes.Success : ExitCodes.Drift;
        }));
        return command;
    }
}
