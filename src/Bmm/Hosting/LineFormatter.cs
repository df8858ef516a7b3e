using Bmm.Database;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace Bmm.Hosting;

/// <summary>
/// One line per message on standard error, as <c>HH:mm:ss level: Category[event] message: reason</c>.
/// The stack trace follows only where it helps: always when <paramref name="stackTraces"/>
/// (--verbose), otherwise only for exceptions that are not the database's or the network's (those
/// clear by themselves, as a server restarting does, and their stack says nothing). The console
/// provider writes it; commands build the provider without a service container, so that a run
/// starts in milliseconds.
/// </summary>
public sealed class LineFormatter(bool stackTraces) : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "bmm";

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (logEntry.Exception is null && string.IsNullOrEmpty(message)) return;
        textWriter.Write(DateTime.Now.ToString("HH:mm:ss ", System.Globalization.CultureInfo.InvariantCulture));
        textWriter.Write(Level(logEntry.LogLevel));
        textWriter.Write(": ");
        textWriter.Write(logEntry.Category);
        textWriter.Write('[');
        textWriter.Write(logEntry.EventId.Id);
        textWriter.Write("] ");
        var exception = logEntry.Exception;
        textWriter.WriteLine(exception is null ? message.ReplaceLineEndings(" ") : $"{message.ReplaceLineEndings(" ").TrimEnd('.')}: {Errors.Describe(exception)}");
        if (exception is not null && (stackTraces || !Expected(exception))) textWriter.WriteLine(exception.ToString());
    }

    /// <summary>The database's, ClickHouse's, the network's or a stop's, or one wrapping it (a lost runner lock).</summary>
    private static bool Expected(Exception? exception) =>
        exception is Npgsql.NpgsqlException or ClickHouse.ClickHouseException or TimeoutException or IOException or System.Net.Sockets.SocketException or OperationCanceledException
        || (exception?.InnerException is { } inner && Expected(inner));

    private static string Level(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => "none",
    };
}
