namespace Bmm.Configuration;

/// <summary>The scheduler of <c>bmm serve</c>. Section <c>Serve</c>; environment <c>BMM_Serve__*</c>.</summary>
public sealed class ServeOptions : ICheckedOptions
{
    /// <summary>Cron expression for the runs, in UTC: 5 fields, or 6 with seconds first.</summary>
    public string Schedule { get; set; } = "*/5 * * * *";

    /// <summary>Prefix served with /metrics (Prometheus) and /health; <c>http://+:9464/</c> listens on every address.</summary>
    public string MetricsUrl { get; set; } = "http://127.0.0.1:9464/";

    /// <summary>The health endpoint turns unhealthy when the data is older than this many intervals.</summary>
    public int UnhealthyAfterIntervals { get; set; } = 3;

    /// <summary>After a failed run, no run starts for this long; doubled on each further failure.</summary>
    public double FailureBackoffFloorSeconds { get; set; } = 1;

    /// <summary>The longest pause after repeated failures.</summary>
    public double FailureBackoffCeilingSeconds { get; set; } = 300;

    /// <summary>/metrics and /health read the job state from the database at most once per this many seconds.</summary>
    public double StateCacheSeconds { get; set; } = 5;

    /// <inheritdoc />
    public string? Problem()
    {
        if (CronSchedule.Problem(Schedule) is { } schedule) return "Serve:Schedule: " + schedule;
        if (MetricsAddress.Problem(MetricsUrl, "Serve:MetricsUrl") is { } url) return url;
        if (UnhealthyAfterIntervals < 1) return "Serve:UnhealthyAfterIntervals must be at least 1.";
        if (!Checks.Positive(FailureBackoffFloorSeconds) || !Checks.Finite(FailureBackoffCeilingSeconds) || FailureBackoffCeilingSeconds < FailureBackoffFloorSeconds)
            return "Serve:FailureBackoffFloorSeconds must be positive and at most Serve:FailureBackoffCeilingSeconds.";
        if (!Checks.Finite(StateCacheSeconds) || StateCacheSeconds < 0) return "Serve:StateCacheSeconds must be a number of seconds, zero or more.";
        return null;
    }
}
