namespace Bmm.Strategies.Incremental;

/// <summary>The statements of the incremental strategy; the work itself is in the bmm.inc_* functions (0002_incremental.sql).</summary>
internal static class IncrementalSql
{
    public const string Forget = "DELETE FROM bmm.consumer WHERE name = @name";

    public const string IsBootstrapped = "SELECT EXISTS (SELECT 1 FROM bmm.consumer WHERE name = @name)";

    /// <summary>The first statement of the bootstrap transaction: it takes the snapshot the state is built from.</summary>
    public const string SnapshotXmin = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

    public const string Rebuild = "SELECT bmm.inc_rebuild()";

    /// <summary>
    /// The state reflects every transaction below the snapshot's xmin and possibly some above it:
    /// those are read again from the log, and applying a change already in the state is a no-op.
    /// </summary>
    public const string SetPosition = """
        INSERT INTO bmm.consumer (name, xid, model_id) VALUES (@name, @xmin - 1, 2147483647)
        ON CONFLICT (name) DO UPDATE SET xid = excluded.xid, model_id = excluded.model_id, updated_at = now()
        """;

    public const string WriteAll = "SELECT inserted, updated, deleted FROM bmm.inc_write_all()";

    public const string Apply = """
        SELECT inserted, updated, deleted, desired, clamped, version_changes, review_changes, anomalies
        FROM bmm.inc_apply(@models, @reviews, @structural)
        """;

    public const string Repair = "SELECT inserted, updated, deleted, desired, clamped FROM bmm.inc_repair(@models)";
}
