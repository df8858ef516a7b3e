-- The job's own objects. Everything lives in schema bmm; nothing of the site's is altered.

CREATE SCHEMA IF NOT EXISTS bmm;

-- Change log written by the capture triggers in the writing transaction. One row per
-- (writing statement, affected model). Rows are ordered by the writer's transaction id:
-- once every transaction below a consumer's horizon has finished, no row can appear below
-- it any more, so a position (xid, model_id) never skips a late commit.
-- Partitioned by xid range so that a consumed range is discarded by TRUNCATE, not DELETE.
-- recount is false for changes that cannot move a distinct thumbs-up count (version metrics).
CREATE TABLE bmm.change_log (
    xid         BIGINT NOT NULL,
    model_id    INTEGER NOT NULL,
    recount     BOOLEAN NOT NULL DEFAULT true,
    captured_at TIMESTAMPTZ NOT NULL DEFAULT statement_timestamp()
) PARTITION BY RANGE (xid);
CREATE TABLE bmm.change_log_default PARTITION OF bmm.change_log DEFAULT;
CREATE INDEX change_log_position_idx ON bmm.change_log (xid, model_id);

-- Width of one change-log partition, in transaction ids.
CREATE FUNCTION bmm.change_log_partition_width() RETURNS BIGINT
    LANGUAGE sql IMMUTABLE AS 'SELECT 1048576::bigint';

-- Creates the partitions for the current xid range and the next `ahead` ones, skipping any
-- range that already holds rows in the default partition (PostgreSQL would refuse it).
CREATE FUNCTION bmm.ensure_change_log_partitions(ahead INTEGER) RETURNS INTEGER
LANGUAGE plpgsql AS $$
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

SELECT bmm.ensure_change_log_partitions(3);

-- One round trip of upkeep after a run: partitions ahead; consumed partitions truncated (a lock
-- on that partition only), then dropped a width later; consumed rows of the default partition
-- deleted. Best effort under a short lock timeout, so that it never queues in front of the
-- site's writers: what is busy is left for the next run. Returns what it did.
CREATE FUNCTION bmm.maintain_change_log() RETURNS SETOF TEXT
LANGUAGE plpgsql AS $$
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
CREATE FUNCTION bmm.widen_xid(xid32 BIGINT, reference BIGINT) RETURNS BIGINT
    LANGUAGE sql IMMUTABLE AS
    'SELECT reference + (xid32 - reference % 4294967296 + 6442450944) % 4294967296 - 2147483648';

-- One read position per consumer of the change log (setbased, incremental, ...).
CREATE TABLE bmm.consumer (
    name       TEXT PRIMARY KEY,
    xid        BIGINT NOT NULL,
    model_id   INTEGER NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The explicit queue of model ids to recompute (bmm enqueue).
CREATE TABLE bmm.model_queue (
    model_id    INTEGER PRIMARY KEY,
    enqueued_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The kill switch, seen by every runner.
CREATE TABLE bmm.control (
    singleton  BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    paused     BOOLEAN NOT NULL DEFAULT false,
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO bmm.control DEFAULT VALUES;

CREATE TABLE bmm.run_history (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    strategy        TEXT NOT NULL,
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    outcome         TEXT NOT NULL,
    affected_models BIGINT NOT NULL DEFAULT 0,
    batches         INTEGER NOT NULL DEFAULT 0,
    inserted        BIGINT NOT NULL DEFAULT 0,
    updated         BIGINT NOT NULL DEFAULT 0,
    deleted         BIGINT NOT NULL DEFAULT 0,
    unchanged       BIGINT NOT NULL DEFAULT 0,
    clamped         BIGINT NOT NULL DEFAULT 0,
    backlog_left    BOOLEAN NOT NULL DEFAULT false,
    phases          JSONB NOT NULL DEFAULT '{}',
    error           TEXT
);
CREATE INDEX run_history_started_idx ON bmm.run_history (started_at DESC);
