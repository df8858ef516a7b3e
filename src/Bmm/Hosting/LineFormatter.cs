using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace Bmm.Hosting;

/// <summary>
/// One line per message on standard error, as <c>HH:mm:ss level: Category[event] message</c>, the
/// exception (if any) on the lines after it. The console provider writes it; commands build the
/// provider without a service container, so that a run starts in milliseconds.
/// </summary>
public sealed class LineFormatter() : ConsoleFormatter(FormatterName)
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
        textWriter.WriteLine(message.ReplaceLineEndings(" "));
        if (logEntry.Exception is { } exception) textWriter.WriteLine(exception.ToString());
    }

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
