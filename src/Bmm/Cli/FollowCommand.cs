using System.CommandLine;
using Bmm.Configuration;
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
        var rebuild = new Option<bool>("--rebuild")
        {
            Description = "Rebuild the incremental state from a snapshot before following (it is built on first use anyway).",
        };
        var command = new Command("follow", "Apply changes continuously with the incremental strategy (seconds of freshness) until stopped (Ctrl+C, SIGTERM).")
        {
            pollSeconds, rebuild,
        };
        command.SetAction((parse, ct) => CliApp.ExecuteAsync(parse, ct, async (env, token) =>
        {
            var options = new FollowOptions
            {
                PollSeconds = parse.GetValue(pollSeconds) ?? env.Follow.PollSeconds,
                ReconcileSeconds = env.Follow.ReconcileSeconds,
                MaintenanceSeconds = env.Follow.MaintenanceSeconds,
            };
            options.Validate();
            var dataSource = await env.DataSourceAsync(token);
            await Migrator.RequireJobSchemaAsync(dataSource, token);
            await new Follower(dataSource, env.Job, options, env.Time, env.Logger, env.Metrics).RunAsync(parse.GetValue(rebuild), token);
            return ExitCodes.Success;
        }));
        return command;
    }
}
