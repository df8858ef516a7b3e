namespace Bmm.Configuration;

/// <summary>The scheduler of <c>bmm serve</c>. Section <c>Serve</c>; environment <c>BMM_Serve__*</c>.</summary>
public sealed class ServeOptions
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

    internal void Validate()
    {
        if (UnhealthyAfterIntervals < 1) throw new UsageException("Serve:UnhealthyAfterIntervals must be at least 1.");
        if (FailureBackoffFloorSeconds <= 0 || FailureBackoffCeilingSeconds < FailureBackoffFloorSeconds)
            throw new UsageException("Serve:FailureBackoffFloorSeconds must be positive and at most Serve:FailureBackoffCeilingSeconds.");
        if (StateCacheSeconds < 0) throw new UsageException("Serve:StateCacheSeconds must not be negative.");
    }
}
