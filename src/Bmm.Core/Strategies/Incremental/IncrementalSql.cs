namespace Bmm.Strategies.Incremental;

/// <summary>The statements of the incremental strategy; the work itself is in the bmm.inc_* functions (Functions/03_incremental.sql).</summary>
internal static class IncrementalSql
{
    public const string Forget = "DELETE FROM bmm.consumer WHERE name = @name";

    public const string IsBootstrapped = "SELECT EXISTS (SELECT 1 FROM bmm.consumer WHERE name = @name)";

    /// <summary>Run as the first statement of a REPEATABLE READ transaction: its snapshot is the one the state is built from.</summary>
    public const string Rebuild = "SELECT bmm.inc_rebuild()";

    public const string BootstrapWrite = "SELECT last_model, model_count, inserted, updated, deleted, unchanged, clamped FROM bmm.inc_bootstrap_write(@after, @batch_models)";

    public const string BootstrapFinish = "SELECT bmm.inc_bootstrap_finish()";

    public const string Apply = """
        SELECT inserted, updated, deleted, unchanged, clamped, models, anomalies, log_rows,
               to_xid, to_kind::text, to_row, cut_short, rebuild
        FROM bmm.inc_apply(@from_xid, @from_kind::"char", @from_row_id, @below, @row_limit, @rebuild_rows)
        """;

    public const string Repair = "SELECT inserted, updated, deleted, unchanged, clamped FROM bmm.inc_repair(@models)";
}
