namespace Bmm.Configuration;

/// <summary><c>bmm follow</c>. Section <c>Follow</c>; environment <c>BMM_Follow__*</c>.</summary>
public sealed class FollowOptions
{
    /// <summary>Longest wait between two looks at the change log when no notification arrives (a missed NOTIFY, a long transaction ending).</summary>
    public double PollSeconds { get; set; } = 1;

    /// <summary>How often a slice of the table is reconciled against the oracle (see Job:ReconcilePassHours).</summary>
    public double ReconcileSeconds { get; set; } = 30;

    /// <summary>How often consumed change-log partitions are truncated and dropped.</summary>
    public double MaintenanceSeconds { get; set; } = 60;

    internal void Validate()
    {
        if (PollSeconds <= 0) throw new UsageException("Follow:PollSeconds must be positive.");
        if (ReconcileSeconds <= 0) throw new UsageException("Follow:ReconcileSeconds must be positive.");
        if (MaintenanceSeconds <= 0) throw new UsageException("Follow:MaintenanceSeconds must be positive.");
    }
}
