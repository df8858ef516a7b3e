-- 40 sets of 2,100 random version ids, drawn once so that drawing them is not timed.
DROP TABLE IF EXISTS capture_bench_ids;
CREATE TABLE capture_bench_ids AS
SELECT n, (SELECT array_agg("modelVersionId") FROM (SELECT "modelVersionId" FROM "ModelVersionMetric"
           ORDER BY random() + n * 0 LIMIT 2100) s) AS ids
FROM generate_series(1, 40) n;
