-- 40 sets of 2,100 random version ids, drawn once so that drawing them is not timed.
DROP TABLE IF EXISTS capture_bench_ids;
CREATE TABLE capture_bench_ids AS
SELECT n, (SELECT array_agg("modelVersionId") FROM (SELECT "modelVersionId" FROM "ModelVersionMetric"
           ORDER BY random() + n * 0 LIMIT 2100) s) AS ids
FROM generate_series(1, 40) n;

-- The first capture format, for a side-by-side comparison: its log table (partitioned by xid
-- range with a partition for the current range, indexed on its position, as it was) and its
-- functions as they were (capture_v1.sql, written by run.sh from the test's copy of the old
-- script), on triggers of their own, disabled until timed.
DROP SCHEMA IF EXISTS capture_bench CASCADE;
CREATE SCHEMA capture_bench;
CREATE TABLE capture_bench.change_log (
    xid         BIGINT NOT NULL,
    model_id    INTEGER NOT NULL,
    recount     BOOLEAN NOT NULL DEFAULT true,
    captured_at TIMESTAMPTZ NOT NULL DEFAULT statement_timestamp(),
    review_id   INTEGER
) PARTITION BY RANGE (xid);
CREATE TABLE capture_bench.change_log_default PARTITION OF capture_bench.change_log DEFAULT;
CREATE INDEX ON capture_bench.change_log (xid, model_id);
DO $$
DECLARE
    width  BIGINT := 1048576;
    bucket BIGINT := pg_snapshot_xmax(pg_current_snapshot())::text::bigint / 1048576;
BEGIN
    EXECUTE format('CREATE TABLE capture_bench.change_log_current PARTITION OF capture_bench.change_log FOR VALUES FROM (%s) TO (%s)',
                   bucket * width, (bucket + 4) * width);
END;
$$;
