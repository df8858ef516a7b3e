using System.CommandLine;
using System.Globalization;
using Bmm.Follow;
using Bmm.Schema;

namespace Bmm.Cli;

internal static class FollowCommand
{
    public static Command Create()
    {
        var pollSeconds = new Option<double?>("--poll-seconds")
        {
            Description = "Longest wait between two looks at the change log without a notification (default: Follow:PollSeconds, 1).",
        };
        var metricsUrl = new Option<string?>("--metrics-url")
        {
            Description = "Where /metrics and /health are served (default: Follow:MetricsUrl, http://127.0.0.1:9465/; host + listens on every address; empty: none).",
        };
        var rebuild = new Option<bool>("--rebuild")
        {
            Description = "Rebuild the incremental state from a snapshot before following (it is built on first use anyway).",
        };
        var command = new Command("follow", "Apply changes continuously with the incremental strategy (seconds of freshness) until stopped (Ctrl+C, SIGTERM).")
        {
            pollSeconds, metricsUrl, rebuild,
        };
        command.SetAction((parse, ct) => CliApp.ExecuteAsync(parse, ct, async (env, token) =>
        {
            // Bad usage fails here, before the database is touched or a port is bound.
            using var host = FollowHost.Build(env.Configuration, env.HostParts, parse.GetValue(rebuild));
            var dataSource = await env.DataSourceAsync(token);
            await Migrator.RequireJobSchemaAsync(dataSource, token);
            await FollowHost.RunAsync(host, token);
            return ExitCodes.Success;
        }, [
            new("Follow:PollSeconds", parse.GetValue(pollSeconds)?.ToString("R", CultureInfo.InvariantCulture)),
            new("Follow:MetricsUrl", parse.GetValue(metricsUrl)),
        ]));
        return command;
    }
}
