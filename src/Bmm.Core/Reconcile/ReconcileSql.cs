namespace Bmm.Reconcile;

/// <summary>The statements of the continuous reconciliation; the comparison itself is bmm.reconcile_check (0002_incremental.sql).</summary>
internal static class ReconcileSql
{
    public const string EnsureCursor = "INSERT INTO bmm.reconcile_cursor (consumer) VALUES (@consumer) ON CONFLICT DO NOTHING";

    public const string ReadOnly = "SET TRANSACTION READ ONLY";

    public const string ReadCursor = "SELECT next_model_id FROM bmm.reconcile_cursor WHERE consumer = @consumer";

    /// <summary>The estimated number of models, from the planner's statistics (no scan).</summary>
    public const string EstimatedModels = """SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = '"Model"'::regclass""";

    /// <summary>The first model id past this slice of @models models, or null when the slice reaches the end.</summary>
    public const string SliceEnd = """SELECT "id" FROM "Model" WHERE "id" >= @low ORDER BY "id" OFFSET @models LIMIT 1""";

    public const string Check = "SELECT model_id, kind, sample FROM bmm.reconcile_check(@consumer, @include_state, @low, @high)";

    public const string Advance = """
        UPDATE bmm.reconcile_cursor SET
            next_model_id = CASE WHEN @wrapped THEN 0 ELSE @high END,
            checked_models = CASE WHEN @wrapped THEN 0 ELSE checked_models + @checked END,
            drifted_models = drifted_models + @drifted,
            last_pass_at = CASE WHEN @wrapped THEN now() ELSE last_pass_at END,
            pass_started_at = CASE WHEN @wrapped THEN now() ELSE pass_started_at END,
            updated_at = now()
        WHERE consumer = @consumer
        """;
}
