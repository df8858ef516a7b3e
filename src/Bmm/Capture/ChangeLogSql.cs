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

    public const string RegisterConsumer = """
        INSERT INTO bmm.consumer (name, xid, model_id)
        VALUES (@name, pg_snapshot_xmin(pg_current_snapshot())::text::bigint - 1, 2147483647)
        ON CONFLICT (name) DO NOTHING
        """;

    /// <summary>
    /// Registers a consumer at the position of @from, so that switching to it loses and redoes
    /// nothing; at the current horizon, as <see cref="RegisterConsumer"/>, when @from does not exist.
    /// </summary>
    public const string RegisterConsumerAt = """
        INSERT INTO bmm.consumer (name, xid, model_id)
        SELECT @name, coalesce(f.xid, pg_snapshot_xmin(pg_current_snapshot())::text::bigint - 1), coalesce(f.model_id, 2147483647)
        FROM (VALUES (1)) one LEFT JOIN bmm.consumer f ON f.name = @from
        ON CONFLICT (name) DO NOTHING
        """;

    /// <summary>For the session of a read outside the job's transactions (the pool resets it on return).</summary>
    public const string NoJit = "SET jit = off";

    public const string ReadPosition = "SELECT xid, model_id FROM bmm.consumer WHERE name = @name";

    /// <summary>
    /// Everything past a position and below the horizon, when it is at most @limit rows: read in
    /// no particular order (a parallel scan of the partitions and a hash of the models, five
    /// times faster on a day's backlog than <see cref="ReadSlice"/>'s numbering in index order,
    /// which only a cut needs). Returns the rows read, which are @limit + 1 when it does not fit,
    /// the distinct models and those to recount.
    /// </summary>
    public const string ReadWholeSlice = """
        WITH bounded AS (
            SELECT model_id, recount FROM bmm.change_log
            WHERE (xid, model_id) > (@xid, @model_id) AND xid < @horizon
            LIMIT @limit::bigint + 1
        ), models AS (
            SELECT model_id, count(*) AS rows, bool_or(recount) AS recount FROM bounded GROUP BY model_id
        )
        SELECT coalesce(sum(rows), 0)::bigint, count(*),
               coalesce(array_agg(model_id ORDER BY model_id), '{}'),
               coalesce(array_agg(model_id ORDER BY model_id) FILTER (WHERE recount), '{}')
        FROM models
        """;

    /// <summary>
    /// The next slice past a position, below the horizon: at most @limit log rows, cut before the
    /// first row of the (@max_models + 1)-th distinct model, so that a slice never holds more
    /// models than the run may still recompute. Returns the rows read and kept, where the kept
    /// rows end, their distinct models (a model changed many times is recomputed once), and
    /// those among them whose distinct users must be recounted.
    /// </summary>
    public const string ReadSlice = """
        WITH numbered AS (
            -- Read in index order, so the numbering needs no sort.
            SELECT xid, model_id, recount, row_number() OVER (ORDER BY xid, model_id) AS rn
            FROM (SELECT xid, model_id, recount FROM bmm.change_log
                  WHERE (xid, model_id) > (@xid, @model_id) AND xid < @horizon
                  ORDER BY xid, model_id
                  LIMIT @limit) s
        ), models AS (
            SELECT model_id, min(rn) AS first_rn, bool_or(recount) AS recount FROM numbered GROUP BY model_id
        ), cut AS (
            SELECT coalesce((SELECT first_rn FROM models ORDER BY first_rn OFFSET @max_models LIMIT 1), 9223372036854775807) AS rn
        ), last AS (
            SELECT n.xid, n.model_id, n.rn FROM numbered n, cut WHERE n.rn < cut.rn ORDER BY n.rn DESC LIMIT 1
        ), tail AS (
            -- A slice cut by @limit may end inside a (xid, model_id) group, whose rows the position
            -- then covers all: one of the unread ones may ask for a recount.
            SELECT l.model_id FROM bmm.change_log l, last
            WHERE (SELECT count(*) FROM numbered) = @limit AND l.xid = last.xid AND l.model_id = last.model_id AND l.recount
        )
        SELECT (SELECT count(*) FROM numbered), coalesce((SELECT rn FROM last), 0), (SELECT xid FROM last), (SELECT model_id FROM last),
               coalesce((SELECT array_agg(m.model_id ORDER BY m.model_id) FROM models m, cut WHERE m.first_rn < cut.rn), '{}'),
               -- A model whose rows after the cut ask for a recount is recounted now: more work, never less.
               coalesce((SELECT array_agg(m.model_id ORDER BY m.model_id) FROM models m, cut
                         WHERE m.first_rn < cut.rn AND (m.recount OR m.model_id IN (SELECT model_id FROM tail))), '{}')
        """;

    /// <summary>
    /// The next step past a position, below the horizon: up to the @limit-th log row (found in the
    /// index alone) and the rest of its (xid, model_id) group, which the position will cover;
    /// everything below the horizon when fewer rows wait. The rows are then read in no particular
    /// order and hashed, which on a million rows is much cheaper than carrying them sorted.
    /// Returns the rows read, the cut (null when none), the models changed other than through a
    /// review, the reviews, the models changed other than through a version metric (a version or
    /// the model row), and every model the rows name.
    /// </summary>
    public const string ReadRows = """
        WITH cut AS (
            SELECT xid, model_id FROM bmm.change_log
            WHERE (xid, model_id) > (@xid, @model_id) AND xid < @horizon
            ORDER BY xid, model_id
            OFFSET @limit - 1 LIMIT 1
        ), grouped AS (
            SELECT l.model_id, l.review_id, bool_or(l.recount) AS recount, count(*) AS rows
            FROM bmm.change_log l
            WHERE (l.xid, l.model_id) > (@xid, @model_id) AND l.xid >= @xid AND l.xid < @horizon
              AND (l.xid, l.model_id) <= coalesce((SELECT (xid, model_id) FROM cut), (@horizon - 1, 2147483647))
            GROUP BY l.model_id, l.review_id
        )
        SELECT coalesce((SELECT sum(rows) FROM grouped), 0)::bigint, (SELECT xid FROM cut), (SELECT model_id FROM cut),
               coalesce((SELECT array_agg(model_id) FROM grouped WHERE review_id IS NULL), '{}'),
               coalesce((SELECT array_agg(DISTINCT review_id) FROM grouped WHERE review_id IS NOT NULL), '{}'),
               coalesce((SELECT array_agg(model_id) FROM grouped WHERE review_id IS NULL AND recount), '{}'),
               coalesce((SELECT array_agg(DISTINCT model_id) FROM grouped), '{}')
        """;
    /// <summary>Moves a position only from where this runner read it: a second runner's move makes it fail.</summary>
    public const string AdvancePosition = """
        UPDATE bmm.consumer SET xid = @xid, model_id = @model_id, updated_at = now()
        WHERE name = @name AND xid = @from_xid AND model_id = @from_model_id
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
               (SELECT count(*) FROM bmm.change_log l WHERE (l.xid, l.model_id) > (c.xid, c.model_id))
        FROM bmm.consumer c
        WHERE c.updated_at < now() - interval '1 day'
          AND EXISTS (SELECT 1 FROM bmm.consumer o WHERE o.updated_at > now() - interval '1 hour')
          AND EXISTS (SELECT 1 FROM bmm.change_log l WHERE (l.xid, l.model_id) > (c.xid, c.model_id))
        """;

    /// <summary>Every consumer with its position, pending rows and the age of its oldest pending change.</summary>
    public const string Consumers = """
        SELECT c.name, c.xid, c.model_id, c.updated_at,
               (SELECT count(*) FROM bmm.change_log l WHERE (l.xid, l.model_id) > (c.xid, c.model_id)) AS pending,
               coalesce(extract(epoch FROM now() - (SELECT l.captured_at FROM bmm.change_log l
                   WHERE (l.xid, l.model_id) > (c.xid, c.model_id) ORDER BY l.xid, l.model_id LIMIT 1)), 0)::float8 AS lag_seconds
        FROM bmm.consumer c ORDER BY c.name
        """;

    public const string DropConsumer = "DELETE FROM bmm.consumer WHERE name = @name";

    public const string State = """
        SELECT
            (SELECT count(*) FROM bmm.model_queue) AS queue_depth,
            (SELECT count(*) FROM bmm.change_log l, bmm.consumer c
             WHERE c.name = @name AND (l.xid, l.model_id) > (c.xid, c.model_id)) AS pending,
            (SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0)::bigint
             FROM pg_inherits i WHERE i.inhparent = 'bmm.change_log'::regclass) AS log_bytes,
            coalesce(extract(epoch FROM now() - least(
                (SELECT l.captured_at FROM bmm.change_log l, bmm.consumer c
                 WHERE c.name = @name AND (l.xid, l.model_id) > (c.xid, c.model_id)
                 ORDER BY l.xid, l.model_id LIMIT 1),
                (SELECT min(enqueued_at) FROM bmm.model_queue))), 0)::float8 AS lag_seconds,
            (SELECT xid FROM bmm.consumer WHERE name = @name) AS position_xid,
            pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon,
            (SELECT extract(epoch FROM now() - max(finished_at)) FROM bmm.run_history WHERE outcome = 'succeeded')::float8
                AS seconds_since_success
        """;
}
