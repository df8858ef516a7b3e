using System.CommandLine;
using Bmm.Schema;

namespace Bmm.Cli;

internal static class MigrateCommand
{
    public static Command Create()
    {
        var withSite = new Option<bool>("--with-site-schema") { Description = "Also create the site's tables, enums, triggers and covering indexes (for an empty database)." };
        var removeCapture = new Option<bool>("--remove-capture") { Description = "Remove the capture triggers from the site's tables, and nothing else." };
        var jobRole = new Option<string?>("--job-role") { Description = "The role the job will run as, named in the printed GRANTs (default: the role running migrate)." };
        var writerRole = new Option<string?>("--writer-role") { Description = "The site's writers' role, named in the printed GRANTs (default: a placeholder)." };
        var command = new Command("migrate", "Create or update the job's own objects (schema bmm) and the capture triggers, and print the GRANTs the job and the site's writers need.")
            { withSite, removeCapture, jobRole, writerRole };
        command.SetAction((parse, ct) => CliApp.ExecuteAsync(parse, ct, async (env, token) =>
        {
            var dataSource = await env.DataSourceAsync(token);
            if (parse.GetValue(removeCapture))
            {
                if (parse.GetValue(withSite))
                    throw new Configuration.UsageException("--remove-capture cannot be combined with --with-site-schema.");
                var removed = await Migrator.RemoveCaptureAsync(dataSource, token);
                Console.WriteLine(removed.TriggersRemoved.Count == 0
                    ? "No capture triggers were installed."
                    : $"Removed {removed.TriggersRemoved.Count} capture triggers:\n  " + string.Join("\n  ", removed.TriggersRemoved));
                return ExitCodes.Success;
            }
            var report = await Migrator.MigrateAsync(dataSource, parse.GetValue(withSite), token, parse.GetValue(jobRole), parse.GetValue(writerRole));
            Console.WriteLine(report.ScriptsApplied.Count == 0
                ? "Schema up to date; no migration applied."
                : "Applied migrations:\n  " + string.Join("\n  ", report.ScriptsApplied));
            Console.WriteLine(report.TriggersAdded.Count == 0
                ? "Capture triggers already installed."
                : $"Added {report.TriggersAdded.Count} capture triggers:\n  " + string.Join("\n  ", report.TriggersAdded));
            Console.WriteLine("Grants the job and the site's writers need (run them as the owner of schema bmm):");
            foreach (var grant in report.Grants) Console.WriteLine("  " + grant);
            return ExitCodes.Success;
        }));
        return command;
    }
}
