namespace Bmm.Configuration;

/// <summary><c>bmm follow</c>. Section <c>Follow</c>; environment <c>BMM_Follow__*</c>.</summary>
public sealed class FollowOptions : ICheckedOptions
{
    /// <summary>Longest wait between two looks at the change log when no notification arrives (a missed NOTIFY, a long transaction ending).</summary>
    public double PollSeconds { get; set; } = 1;

    /// <summary>How often a slice of the table is reconciled against the oracle (see Job:ReconcilePassHours).</summary>
    public double ReconcileSeconds { get; set; } = 30;

    /// <summary>How often consumed change-log partitions are truncated and dropped.</summary>
    public double MaintenanceSeconds { get; set; } = 60;

    /// <summary>Where /metrics and /health are served while following (next to serve's default port); empty serves none.</summary>
    public string MetricsUrl { get; set; } = "http://127.0.0.1:9465/";

    /// <summary>/health turns unhealthy when the oldest unapplied change, or the follower's last completed pass, is older than this.</summary>
    public double UnhealthyAfterSeconds { get; set; } = 60;

    /// <inheritdoc />
    public string? Problem()
    {
        if (!string.IsNullOrWhiteSpace(MetricsUrl) && MetricsAddress.Problem(MetricsUrl, "Follow:MetricsUrl") is { } url) return url;
        if (!Checks.Positive(UnhealthyAfterSeconds)) return "Follow:UnhealthyAfterSeconds must be a positive number of seconds.";
        if (!Checks.Positive(PollSeconds)) return "Follow:PollSeconds must be a positive number of seconds.";
        if (!Checks.Positive(ReconcileSeconds)) return "Follow:ReconcileSeconds must be a positive number of seconds.";
        if (!Checks.Positive(MaintenanceSeconds)) return "Follow:MaintenanceSeconds must be a positive number of seconds.";
        return null;
    }
}
