namespace Bmm.Refresh;

/// <summary>SQL of the run history, the kill switch and the queue.</summary>
internal static class JobControlSql
{
    public const string IsPaused = "SELECT paused FROM bmm.control";

    public const string SetPaused = "UPDATE bmm.control SET paused = @paused, changed_at = now()";

    public const string StartRun = """
        INSERT INTO bmm.run_history (strategy, started_at, outcome) VALUES (@strategy, now(), 'running')
        RETURNING id
        """;

    public const string FinishRun = """
        UPDATE bmm.run_history SET
            finished_at = now(), outcome = @outcome, affected_models = @affected, batches = @batches,
            inserted = @inserted, updated = @updated, deleted = @deleted, unchanged = @unchanged,
            clamped = @clamped, backlog_left = @backlog, phases = @phases::jsonb, error = @error
        WHERE id = @id
        """;

    public const string Enqueue = """
        INSERT INTO bmm.model_queue (model_id) SELECT DISTINCT unnest(@ids::int[])
        ON CONFLICT (model_id) DO NOTHING
        """;

    public const string RecentRuns = """
        SELECT id, strategy, started_at, finished_at, outcome, affected_models, batches, inserted, updated,
               deleted, unchanged, clamped, backlog_left, error
        FROM bmm.run_history ORDER BY id DESC LIMIT @limit
        """;

    public const string BaselineWatermark = """SELECT value FROM "KeyValue" WHERE key = 'metric:basemodel'""";
}
