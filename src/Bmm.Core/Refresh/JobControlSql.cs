namespace Bmm.Refresh;

/// <summary>SQL of the run history, the kill switch, the queue and the job's state.</summary>
internal static class JobControlSql
{
    public const string IsPaused = "SELECT paused FROM bmm.control";

    public const string SetPaused = "UPDATE bmm.control SET paused = @paused, changed_at = now()";

    /// <summary>
    /// A new run's row, in one statement with the runs still 'running' when a runner has just taken
    /// the lock: their process stopped without recording an end (killed, its host gone). Those are
    /// marked abandoned, finished_at the time they were found (the statement's snapshot does not see
    /// its own new row). One row per abandoned run, or one with nulls: the new run's id first.
    /// </summary>
    public const string StartRun = """
        WITH abandoned AS (
            UPDATE bmm.run_history SET outcome = 'abandoned', finished_at = now(),
                error = 'Its process stopped without recording an end; found by the next runner.'
            WHERE outcome = 'running'
            RETURNING id, strategy, started_at
        ), started AS (
            INSERT INTO bmm.run_history (strategy, started_at, outcome) VALUES (@strategy, now(), 'running')
            RETURNING id
        )
        SELECT s.id, a.id, a.strategy, a.started_at FROM started s LEFT JOIN abandoned a ON true
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

    public const string SetBasedPosition = "SELECT format('xid %s %s %s (updated %s)', xid, kind, row_id, updated_at) FROM bmm.consumer WHERE name = @name";

    public const string BaselineWatermark = """SELECT value FROM "KeyValue" WHERE key = 'metric:basemodel'""";

    /// <summary>
    /// What the gauges and /health show, as seen by one consumer of the change log: pending and lag
    /// count only the rows it has not applied (bmm.unapplied). Each is a subquery per consumer
    /// row, so the lag's LIMIT 1 starts its index walk at the position: joined instead, the plan
    /// walked the log from its first row, a second a scrape for a log of 2.8 million rows.
    /// </summary>
    public const string State = """
        SELECT
            (SELECT count(*) FROM bmm.model_queue) AS queue_depth,
            coalesce((SELECT (SELECT count(*) FROM bmm.unapplied(c)) FROM bmm.consumer c WHERE c.name = @name), 0) AS pending,
            (SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0)::bigint
             FROM pg_inherits i WHERE i.inhparent = 'bmm.change_log'::regclass) AS log_bytes,
            coalesce(extract(epoch FROM now() - least(
                (SELECT (SELECT u.captured_at FROM bmm.unapplied(c) u ORDER BY u.xid, u.kind, u.row_id LIMIT 1)
                 FROM bmm.consumer c WHERE c.name = @name),
                (SELECT min(enqueued_at) FROM bmm.model_queue))), 0)::float8 AS lag_seconds,
            (SELECT extract(epoch FROM now() - max(finished_at)) FROM bmm.run_history WHERE outcome = 'succeeded')::float8
                AS seconds_since_success
        """;
}
