namespace Bmm.Follow;

/// <summary>The follower's statements; the channel is the one the capture triggers notify.</summary>
internal static class FollowSql
{
    public const string Listen = "LISTEN bmm_change_log";

    /// <summary>Ends the follower's own wait (other followers only wait on the lock, not on the channel).</summary>
    public const string Wake = "SELECT pg_notify('bmm_change_log', 'wake')";

    /// <summary>Ends a listening session whose wait could not be ended by a notification, so that it is neither leaked nor disposed mid-wait.</summary>
    public const string EndListener = "SELECT pg_terminate_backend(@pid)";
}
