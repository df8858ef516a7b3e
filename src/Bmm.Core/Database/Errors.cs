using Npgsql;

namespace Bmm.Database;

/// <summary>How the job words an error for a person: one line, never the password.</summary>
public static class Errors
{
    /// <summary>A one-line reason, never containing the password (Npgsql does not put it in messages).</summary>
    public static string Describe(Exception e) => e switch
    {
        PostgresException pg => pg.MessageText.TrimEnd('.') + ".",
        NpgsqlException { InnerException: { } inner } => inner.Message.TrimEnd('.') + ".",
        _ => e.Message.TrimEnd('.') + ".",
    };
}
