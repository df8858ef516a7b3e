using Cronos;

namespace Bmm.Configuration;

/// <summary>
/// A cron schedule in UTC: the usual 5 fields (minute first), or 6 with seconds first, or a
/// Cronos macro such as <c>@hourly</c>.
/// </summary>
public sealed class CronSchedule
{
    private readonly CronExpression _expression;

    private CronSchedule(string text, CronExpression expression)
    {
        Text = text;
        _expression = expression;
    }

    public string Text { get; }

    /// <summary>Parses <paramref name="text"/>; a malformed or never-firing expression is a usage error.</summary>
    public static CronSchedule Parse(string? text)
    {
        var trimmed = (text ?? "").Trim();
        var fields = trimmed.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
        var format = fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard;
        if (trimmed.Length == 0 || (fields is not (5 or 6) && !(fields == 1 && trimmed.StartsWith('@'))))
            throw new UsageException($"The schedule '{trimmed}' is not a cron expression: give 5 fields (minute hour day month weekday, e.g. \"*/5 * * * *\") or 6 with seconds first.");
        CronExpression expression;
        try
        {
            expression = CronExpression.Parse(trimmed, format);
        }
        catch (CronFormatException e)
        {
            throw new UsageException($"The schedule '{trimmed}' is not a valid cron expression: {e.Message.TrimEnd('.')}.", e);
        }
        var schedule = new CronSchedule(trimmed, expression);
        if (schedule.TryNext(DateTimeOffset.UtcNow) is null)
            throw new UsageException($"The schedule '{trimmed}' never fires.");
        return schedule;
    }

    /// <summary>Why <paramref name="text"/> is not a schedule; null when it is one.</summary>
    public static string? Problem(string? text)
    {
        try
        {
            Parse(text);
            return null;
        }
        catch (UsageException e)
        {
            return e.Message;
        }
    }

    /// <summary>The first occurrence strictly after <paramref name="after"/>, or null if there is none.</summary>
    public DateTimeOffset? TryNext(DateTimeOffset after) =>
        _expression.GetNextOccurrence(after.UtcDateTime, inclusive: false) is { } next ? new DateTimeOffset(next, TimeSpan.Zero) : null;

    /// <summary>The first occurrence strictly after <paramref name="after"/>.</summary>
    public DateTimeOffset Next(DateTimeOffset after) =>
        TryNext(after) ?? throw new InvalidOperationException($"The schedule '{Text}' has no occurrence after {after:O}.");

    /// <summary>The time between the next two occurrences after <paramref name="now"/>: what "one interval" means for health.</summary>
    public TimeSpan IntervalAfter(DateTimeOffset now)
    {
        var first = Next(now);
        return TryNext(first) is { } second ? second - first : TimeSpan.MaxValue;
    }

    public override string ToString() => Text;
}
