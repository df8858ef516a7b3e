namespace Bmm.Capture;

/// <summary>All SQL that reads, advances and discards the change log.</summary>
internal static class ChangeLogSql
{
    /// <summary>
    /// Every transaction with an id below this horizon has finished, so no change-log row can
    /// appear below it any more: a consumer may read up to it without missing a late commit.
    /// </summary>
    /// <remarks>
    /// pg_snapshot_xmin is cluster-wide: a long transaction in another database would hold every
    /// consumer back. Where the job may read pg_stat_activity in full (superuser or
    /// pg_read_all_stats), only this database's running transactions count: the snapshot's xmax
    /// is read first, so a transaction given an xid below it is either finished or listed with
    /// its xid. Otherwise the cluster-wide horizon is used, which is safe, only less fresh.
    /// Each 32-bit backend_xid is widened to 64 bits against the snapshot's xmax, which it is
    /// within 2^31 of on either side: a running xid may be above xmax (bmm.widen_xid).
    /// </remarks>
    public const string Horizon = """
        SELECT CASE WHEN pg_has_role('pg_read_all_stats', 'USAGE') THEN
                   least(s.next, (SELECT min(bmm.widen_xid(a.backend_xid::text::bigint, s.next))
                                  FROM pg_stat_activity a
                                  WHERE a.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
                                    AND a.backend_xid IS NOT NULL))
               ELSE s.xmin END
        FROM (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next,
                     pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin) s
        """;

    /// <summary>
    /// Registers a consumer at the position of @from, so that switching to it loses and redoes
    /// nothing (a sweep in progress there is redone whole); at the current horizon when @from
    /// does not exist.
    /// </summary>
    public const string RegisterConsumerAt = """
        INSERT INTO bmm.consumer (name, xid, kind, row_id)
        SELECT @name, coalesce(f.xid, pg_snapshot_xmin(pg_current_snapshot())::text::bigint - 1), coalesce(f.kind, '~'), coalesce(f.row_id, 2147483647)
        FROM (VALUES (1)) one LEFT JOIN bmm.consumer f ON f.name = @from
        ON CONFLICT (name) DO NOTHING
        """;

    /// <summary>For the session of a read outside the job's transactions (the pool resets it on return).</summary>
    public const string NoJit = "SET jit = off";

    public const string ReadConsumer = "SELECT xid, kind::text, row_id, sweep_end, sweep_model FROM bmm.consumer WHERE name = @name";

    /// <summary>Whether any row waits past a position and below the horizon (a quiet run reads this and stops).</summary>
    public const string AnyPending = """
        SELECT EXISTS (SELECT 1 FROM bmm.change_log
                       WHERE (xid, kind, row_id) > (@xid, @kind::"char", @row_id) AND xid < @below)
        """;

    /// <summary>
    /// How many review, version and model rows a sweep's start counts before it also counts the
    /// site's models to tell a bulk load (a day's backlog holds about 73,000 such rows).
    /// </summary>
    private const string DeepBacklogProbeRows = "1000000";

    /// <summary>
    /// The models the log rows past the position and below the sweep's end (@below) ask to
    /// recompute, each with the base models whose distinct users must be recounted (grouped by
    /// model where used).
    /// </summary>
    private const string SweepRows = """
        SELECT model_id, coalesce(array_agg(DISTINCT recount_base) FILTER (WHERE recount_base IS NOT NULL), '{}') AS recount_bases
        FROM bmm.changed_pairs(@xid, @kind::"char", @row_id, @below, false)
        """;

    /// <summary>
    /// A new sweep's first models, in model order: the models that the rows past the position and
    /// below the sweep's end ask to recompute (bmm.changed_pairs), each with the base models whose
    /// distinct users must be recounted, read whole so that a run cut by its model budget takes
    /// models in order across all transactions. When they are more than @limit (the run's budget),
    /// all of them are planned in bmm.sweep_plan in the same read, for the sweep's later runs (in
    /// the transaction that removed any plan left by a sweep that never started: <see cref="EndSweep"/>).
    /// A backlog with at least as many rows that are not metric deltas (reviews, versions, models)
    /// as the site has models, as a bulk load leaves, is swept whole instead: every model of
    /// "Model" or of the table, each with every base model recounted (null). Mapping such a backlog
    /// to models costs more than recomputing the models it does not name (32 s of a 91 s drain of
    /// the whole site); its rows are counted in their own index, no further than that.
    /// </summary>
    public const string StartSweep = $"""
        WITH waiting AS MATERIALIZED (
            SELECT count(*) AS rows FROM (SELECT 1 FROM bmm.change_log l
                                          WHERE (l.xid, l.kind, l.row_id) > (@xid, @kind::"char", @row_id) AND l.xid < @below AND l.kind <> 'm'
                                          LIMIT {DeepBacklogProbeRows}) s
        ), deep AS MATERIALIZED (
            -- Both counts stop as soon as the answer is known: a window's few hundred rows, or a
            -- day's 73,000, never count the site's models (a million of them, 100 ms).
            SELECT CASE WHEN w.rows < {DeepBacklogProbeRows}
                        THEN (SELECT count(*) FROM (SELECT 1 FROM "Model" LIMIT w.rows + 1) m) BETWEEN 1 AND w.rows
                        ELSE (SELECT count(*) >= greatest(max(m.models), 1)
                              FROM (SELECT count(*) AS models FROM "Model") m,
                                   LATERAL (SELECT 1 FROM bmm.change_log l
                                            WHERE (l.xid, l.kind, l.row_id) > (@xid, @kind::"char", @row_id) AND l.xid < @below AND l.kind <> 'm'
                                            LIMIT m.models) s)
                   END AS every_model
            FROM waiting w
        ), sweep AS MATERIALIZED (
            {SweepRows}
            WHERE NOT (SELECT every_model FROM deep)
            GROUP BY model_id
            UNION ALL
            SELECT e.model_id, NULL FROM (SELECT m."id" AS model_id FROM "Model" m
                                          UNION ALL
                                          SELECT DISTINCT t."modelId" FROM "ModelBaseModelMetric" t
                                          WHERE NOT EXISTS (SELECT 1 FROM "Model" m WHERE m."id" = t."modelId")) e
            WHERE (SELECT every_model FROM deep)
        ), planned AS (
            INSERT INTO bmm.sweep_plan (consumer, model_id, recount_bases)
            SELECT @consumer, model_id, recount_bases FROM sweep
            WHERE (SELECT count(*) FROM sweep) > @limit
        )
        SELECT model_id, recount_bases FROM sweep ORDER BY model_id LIMIT @limit + 1
        """;

    /// <summary>Whether the consumer's sweep in progress has a plan (one started by an older version, or cut by time only, has none).</summary>
    public const string HasSweepPlan = "SELECT EXISTS (SELECT 1 FROM bmm.sweep_plan WHERE consumer = @consumer)";

    /// <summary>The next models of a planned sweep, in model order, past @after.</summary>
    public const string PlannedSweepModels = """
        SELECT model_id, recount_bases FROM bmm.sweep_plan
        WHERE consumer = @consumer AND model_id > @after
        ORDER BY model_id
        LIMIT @limit
        """;

    /// <summary>
    /// The next models of a sweep in progress without a plan, in model order, past @after: read
    /// from the sweep's log rows as <see cref="StartSweep"/> reads them.
    /// </summary>
    public const string SweepModels = $"""
        {SweepRows}
        WHERE model_id > @after
        GROUP BY model_id
        ORDER BY model_id
        LIMIT @limit
        """;

    /// <summary>Removes the consumer's sweep plan: in the transaction that moves its position past the sweep, and before a new sweep is planned.</summary>
    public const string EndSweep = "DELETE FROM bmm.sweep_plan WHERE consumer = @consumer";

    /// <summary>
    /// Moves a consumer from the state this runner read to the next one, in the transaction that
    /// wrote what the move covers; a second runner's move makes it fail. Passing the end of the
    /// bootstrap's snapshot forgets it.
    /// </summary>
    public const string Advance = """
        UPDATE bmm.consumer SET xid = @xid, kind = @kind::"char", row_id = @row_id,
            sweep_end = @sweep_end, sweep_model = @sweep_model,
            skip_below = CASE WHEN @xid >= skip_below THEN NULL ELSE skip_below END,
            skip_except = CASE WHEN @xid >= skip_below THEN NULL ELSE skip_except END,
            updated_at = now()
        WHERE name = @name AND (xid, kind, row_id) = (@from_xid, @from_kind::"char", @from_row_id)
          AND sweep_end IS NOT DISTINCT FROM @from_sweep_end AND sweep_model IS NOT DISTINCT FROM @from_sweep_model
        """;

    public const string TakeQueued = """
        DELETE FROM bmm.model_queue
        WHERE model_id IN (SELECT model_id FROM bmm.model_queue ORDER BY model_id LIMIT @limit FOR UPDATE SKIP LOCKED)
        RETURNING model_id
        """;

    /// <summary>Partitions ahead, consumed ones truncated or dropped; returns what it did (see the SQL function).</summary>
    public const string Maintain = "SELECT bmm.maintain_change_log()";

    /// <summary>
    /// Consumers that have not moved for a day while another one has, with the log rows they hold
    /// back from cleanup: a strategy no longer run (after a switch) keeps its position forever.
    /// </summary>
    public const string StaleConsumers = """
        SELECT c.name, extract(epoch FROM now() - c.updated_at)::float8,
               (SELECT count(*) FROM bmm.change_log l WHERE (l.xid, l.kind, l.row_id) > (c.xid, c.kind, c.row_id))
        FROM bmm.consumer c
        WHERE c.updated_at < now() - interval '1 day'
          AND EXISTS (SELECT 1 FROM bmm.consumer o WHERE o.updated_at > now() - interval '1 hour')
          AND EXISTS (SELECT 1 FROM bmm.change_log l WHERE (l.xid, l.kind, l.row_id) > (c.xid, c.kind, c.row_id))
        """;

    /// <summary>
    /// Every consumer with its position, pending rows and the age of its oldest pending change
    /// (bmm.unapplied: rows its remembered snapshot holds are applied).
    /// </summary>
    public const string Consumers = """
        SELECT c.name, c.xid, c.kind::text, c.row_id, c.sweep_end, c.sweep_model, c.updated_at,
               (SELECT count(*) FROM bmm.unapplied(c)) AS pending,
               coalesce(extract(epoch FROM now() - (SELECT u.captured_at FROM bmm.unapplied(c) u
                   ORDER BY u.xid, u.kind, u.row_id LIMIT 1)), 0)::float8 AS lag_seconds
        FROM bmm.consumer c ORDER BY c.name
        """;

    public const string DropConsumer = "DELETE FROM bmm.consumer WHERE name = @name";
}
