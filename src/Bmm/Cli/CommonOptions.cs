using System.CommandLine;

namespace Bmm.Cli;

/// <summary>Options every command takes.</summary>
internal static class CommonOptions
{
    public static readonly Option<string?> Connection = new("--connection")
    {
        Description = "Npgsql connection string (also BMM_CONNECTION). Without it, a private PostgreSQL is started from the machine's server binaries.",
        Recursive = true,
    };

    public static readonly Option<bool> Verbose = new("--verbose")
    {
        Description = "Log debug messages.",
        Recursive = true,
    };

    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Print the result as JSON on standard output.",
    };
}
