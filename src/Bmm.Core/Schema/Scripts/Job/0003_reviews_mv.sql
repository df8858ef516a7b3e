-- The plan's Option C: review stats pre-aggregated in a materialized view, refreshed on a
-- schedule by the reviews-mv strategy and joined by its batches instead of counting reviews.

-- The plan's definition: per (model, base model) of Published versions, the distinct users of
-- the recommended reviews that are neither excluded nor tosViolation. Pairs whose reviews are
-- all unrecommended are here with 0; pairs without a qualifying review at all are absent.
-- Created WITH DATA: REFRESH ... CONCURRENTLY refuses a view that was never populated.
CREATE MATERIALIZED VIEW bmm.review_stats AS
SELECT
  mv."modelId",
  mv."baseModel",
  COUNT(DISTINCT r."userId") FILTER (WHERE r.recommended = true) AS "thumbsUpCount"
FROM "ResourceReview" r
JOIN "ModelVersion" mv ON mv.id = r."modelVersionId"
WHERE r.exclude = false AND r."tosViolation" = false AND mv."status" = 'Published'
GROUP BY mv."modelId", mv."baseModel"
WITH DATA;

-- REFRESH ... CONCURRENTLY needs a unique index on plain columns covering every row.
CREATE UNIQUE INDEX review_stats_pair_idx ON bmm.review_stats ("modelId", "baseModel");

-- When the job last refreshed the view, by the job's clock, and how long the refresh took.
-- Null until the job's first refresh, so that its first run refreshes and brings the table in
-- line with the view, whatever happened between this migration and that run.
CREATE TABLE bmm.review_stats_refresh (
    singleton        BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    refreshed_at     TIMESTAMPTZ,
    duration_seconds DOUBLE PRECISION
);
INSERT INTO bmm.review_stats_refresh DEFAULT VALUES;
