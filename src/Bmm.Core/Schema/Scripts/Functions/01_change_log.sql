-- The change log's functions. Re-applied by every `migrate` (CREATE OR REPLACE), so that a new
-- version of the job brings its functions with it; tables live in the versioned scripts.

-- Width of one change-log partition, in transaction ids.
CREATE OR REPLACE FUNCTION bmm.change_log_partition_width() RETURNS BIGINT
    LANGUAGE sql IMMUTABLE AS 'SELECT 1048576::bigint';

-- Creates the partitions for the current xid range and the next `ahead` ones, skipping any
-- range that already holds rows in the default partition (PostgreSQL would refuse it).
-- Creating a partition needs ownership of the log, which the job's role does not have: this and
-- maintain_change_log run as the schema's owner (SECURITY DEFINER, with a search_path that
-- holds only the catalog, every object named with its schema). EXECUTE stays with PUBLIC: only
-- roles granted USAGE on schema bmm (the job, the site's writers) can reach them, and all they
-- can do is create the log's next partitions and discard what every consumer has passed.
CREATE OR REPLACE FUNCTION bmm.ensure_change_log_partitions(ahead INTEGER) RETURNS INTEGER
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    width   BIGINT := bmm.change_log_partition_width();
    current BIGINT := pg_snapshot_xmax(pg_current_snapshot())::text::bigint / width;
    created INTEGER := 0;
    bucket  BIGINT;
    name    TEXT;
BEGIN
    FOR bucket IN current .. current + ahead LOOP
        name := format('change_log_p%s', bucket);
        CONTINUE WHEN to_regclass(format('bmm.%I', name)) IS NOT NULL;
        CONTINUE WHEN EXISTS (SELECT 1 FROM bmm.change_log_default
                              WHERE xid >= bucket * width AND xid < (bucket + 1) * width);
        EXECUTE format('CREATE TABLE bmm.%I PARTITION OF bmm.change_log FOR VALUES FROM (%s) TO (%s)',
                       name, bucket * width, (bucket + 1) * width);
        created := created + 1;
    END LOOP;
    RETURN created;
END;
$$;

-- One round trip of upkeep after a run: partitions ahead; consumed partitions truncated (a lock
-- on that partition only), then dropped a width later; consumed rows of the default partition
-- deleted. Every row below the lowest position's transaction id is consumed by every consumer.
-- Best effort under a short lock timeout, so that it never queues in front of the site's writers:
-- what is busy is left for the next run. Returns what it did.
CREATE OR REPLACE FUNCTION bmm.maintain_change_log() RETURNS SETOF TEXT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    width BIGINT := bmm.change_log_partition_width();
    low   BIGINT := (SELECT min(xid) FROM bmm.consumer);
    part  RECORD;
BEGIN
    PERFORM set_config('lock_timeout', '100ms', true);
    BEGIN
        PERFORM bmm.ensure_change_log_partitions(3);
    EXCEPTION WHEN lock_not_available THEN NULL;
    END;
    IF low IS NULL THEN RETURN; END IF;
    FOR part IN
        SELECT c.oid, c.relname, substring(c.relname FROM 'change_log_p(\d+)')::bigint AS bucket
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'bmm.change_log'::regclass AND c.relname LIKE 'change\_log\_p%'
        ORDER BY 2
    LOOP
        BEGIN
            IF (part.bucket + 2) * width <= low THEN
                EXECUTE format('DROP TABLE bmm.%I', part.relname);
                RETURN NEXT 'dropped ' || part.relname;
            ELSIF (part.bucket + 1) * width <= low AND pg_relation_size(part.oid) > 0 THEN
                EXECUTE format('TRUNCATE bmm.%I', part.relname);
                RETURN NEXT 'truncated ' || part.relname;
            END IF;
        EXCEPTION WHEN lock_not_available THEN NULL;
        END;
    END LOOP;
    BEGIN
        DELETE FROM bmm.change_log_default WHERE xid < low;
    EXCEPTION WHEN lock_not_available THEN NULL;
    END;
END;
$$;

-- Widens a 32-bit transaction id (as pg_stat_activity shows them) to the 64-bit value nearest
-- to a 64-bit reference; correct while the two are within 2^31 of each other, either way.
CREATE OR REPLACE FUNCTION bmm.widen_xid(xid32 BIGINT, reference BIGINT) RETURNS BIGINT
    LANGUAGE sql IMMUTABLE AS
    'SELECT reference + (xid32 - reference % 4294967296 + 6442450944) % 4294967296 - 2147483648';

-- The models that the log rows past (from_xid, from_kind, from_row) and below below_xid ask a
-- recomputing consumer to recompute, each with the base models whose distinct thumbs-up users
-- must be recounted (recount_base; null where the model is recomputed for its sums or its
-- copied columns only). Versions are mapped to models as they are now: a version moved since
-- its metric or review changed has a 'v' row of its own, which names both its old and its new
-- model, so both are recomputed once the move is below the horizon. A version that is not
-- Published now counts nowhere, so its rows name no model, unless @any_status (the models whose
-- state a change may touch: reviews are kept whatever their version's status).
--   'm' the version's model, if the version is Published now;
--   'r' the models of its old and new version, if Published now, recounting their pairs;
--   'v' its old model if the old row was Published, its new one if the new row is, recounting both pairs;
--   'o' the model (a model edit moves only the six copied columns).
-- One scan of the log, grouped by the row that changed (a cheap key) before anything is looked up.
CREATE OR REPLACE FUNCTION bmm.changed_pairs(from_xid BIGINT, from_kind "char", from_row INTEGER, below_xid BIGINT, any_status BOOLEAN)
RETURNS TABLE (model_id INTEGER, recount_base TEXT)
LANGUAGE sql STABLE AS $$
    WITH changed AS MATERIALIZED (
        -- The metric deltas (nearly every row): only which versions, made distinct by the version alone.
        SELECT 'm'::"char" AS kind, d.row_id, NULL::integer[] AS versions, NULL::integer[] AS models, NULL::text[] AS bases
        FROM (SELECT DISTINCT l.row_id FROM bmm.change_log l
              WHERE (l.xid, l.kind, l.row_id) > (from_xid, from_kind, from_row) AND l.xid < below_xid AND l.kind = 'm') d
        UNION ALL
        -- The other rows, from their own index.
        SELECT l.kind, l.row_id,
               array_agg(l.old_version) FILTER (WHERE l.kind = 'r') || array_agg(l.new_version) FILTER (WHERE l.kind = 'r'),
               array_agg(l.old_model) FILTER (WHERE l.kind = 'v' AND l.old_status = 'Published')
                   || array_agg(l.new_model) FILTER (WHERE l.kind = 'v' AND l.new_status = 'Published'),
               array_agg(l.old_base) FILTER (WHERE l.kind = 'v' AND l.old_status = 'Published')
                   || array_agg(l.new_base) FILTER (WHERE l.kind = 'v' AND l.new_status = 'Published')
        FROM bmm.change_log l
        WHERE (l.xid, l.kind, l.row_id) > (from_xid, from_kind, from_row) AND l.xid < below_xid AND l.kind <> 'm'
        GROUP BY l.kind, l.row_id
    ), versions AS (
        SELECT v.version_id, bool_or(v.recount) AS recount
        FROM (SELECT c.row_id AS version_id, false AS recount FROM changed c WHERE c.kind = 'm'
              UNION ALL
              SELECT u.version_id, true FROM changed c, unnest(c.versions) AS u (version_id) WHERE c.kind = 'r') v
        WHERE v.version_id IS NOT NULL
        GROUP BY v.version_id
    )
    SELECT v."modelId", CASE WHEN k.recount THEN v."baseModel" END
    FROM versions k JOIN "ModelVersion" v ON v."id" = k.version_id AND (any_status OR v."status" = 'Published')
    UNION ALL
    SELECT n.model_id, n.base_model FROM changed c, unnest(c.models, c.bases) AS n (model_id, base_model) WHERE c.kind = 'v'
    UNION ALL
    SELECT c.row_id, NULL FROM changed c WHERE c.kind = 'o'
$$;
