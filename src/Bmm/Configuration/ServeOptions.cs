namespace Bmm.Configuration;

/// <summary>The scheduler of <c>bmm serve</c>. Section <c>Serve</c>; environment <c>BMM_Serve__*</c>.</summary>
public sealed class ServeOptions
{
    /// <summary>Cron expression (5 fields, UTC) for the runs.</summary>
    public string Schedule { get; set; } = "*/5 * * * *";

    /// <summary>Prefix served with /metrics (Prometheus) and /health.</summary>
    public string MetricsUrl { get; set; } = "http://127.0.0.1:9464/";

    /// <summary>The health endpoint turns unhealthy when the data is older than this many intervals.</summary>
    public int UnhealthyAfterIntervals { get; set; } = 3;
}
