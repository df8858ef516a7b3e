using System.CommandLine;
using Bmm.Schema;
using Bmm.Refresh;
using Bmm.Serve;
using Bmm.Strategies.ClickHouse;
using Microsoft.Extensions.DependencyInjection;

namespace Bmm.Cli;

internal static class ServeCommand
{
    public static Command Create()
    {
        var schedule = new Option<string?>("--schedule")
        {
            Description = "Cron expression in UTC, 5 fields or 6 with seconds first (default: Serve:Schedule, \"*/5 * * * *\").",
        };
        var metricsUrl = new Option<string?>("--metrics-url")
        {
            Description = "Where /metrics and /health are served (default: Serve:MetricsUrl, http://127.0.0.1:9464/; host + listens on every address).",
        };
        var command = new Command("serve", "Run the job on its schedule until stopped (Ctrl+C, SIGTERM), serving Prometheus metrics and a health check.")
        {
            schedule, metricsUrl, RunCommand.Strategy,
        };
        command.SetAction((parse, ct) => CliApp.ExecuteAsync(parse, ct, async (env, token) =>
        {
            // Bad usage fails here, before the database is touched or a port is bound.
            using var host = ServeHost.Build(env.Configuration, env.HostParts);
            var dataSource = await env.DataSourceAsync(token);
            await Migrator.RequireJobSchemaAsync(dataSource, token);
            if (host.Services.GetRequiredService<IRefreshStrategy>() is ClickHouseStrategy) await env.ClickHouseMirrorAsync(token);
            await ServeHost.RunAsync(host, token);
            return ExitCodes.Success;
        }, [new("Serve:Schedule", parse.GetValue(schedule)), new("Serve:MetricsUrl", parse.GetValue(metricsUrl)), new("Job:Strategy", parse.GetValue(RunCommand.Strategy))]));
        return command;
    }
}
