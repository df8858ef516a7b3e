-- The one write path to "ModelBaseModelMetric": every strategy of this project (setbased,
-- incremental's apply, repair and bootstrap, reviews-mv, the ClickHouse consumer) and backfill
-- write through it. It makes the visible rows of the given pairs equal to the given values,
-- writing only the rows that differ:
--   pair_* arrays, one element per (model, base model): its thumbs-up count and its unclamped
--     sums; a null thumbs count says the pair no longer exists.
--   scope_models: models whose every row is compared, the six columns copied from "Model"
--     included, so that a row of theirs not among the given pairs is removed and a model that no
--     longer exists loses its rows (a recomputation gives every pair of its models; a model edit
--     or deletion is in scope). Outside the scope, a row that exists keeps its six columns, which
--     the site's own trigger and the capture of model edits keep equal to the model's, and only
--     its counters are compared: a metric change reads no model.
-- Sums are clamped to int4 as the oracle clamps them; the clamped pairs are returned as JSON
-- [[model, base model, downloads, images], ...] for logging.
-- Rows about to be written are locked first, in key order, as the site's own trigger locks a
-- model's rows when the model is edited: two writers taking locks in one order cannot wait for
-- each other in a cycle (the follow benchmark caught a deadlock in which PostgreSQL aborted the
-- site's edit). Only rows whose counters differ or that go are locked: a row left as it is costs
-- no lock, so no WAL.
-- Custom plans: the arrays' sizes are then known to the planner (a generic plan guessed 100 rows).
CREATE OR REPLACE FUNCTION bmm.write_pairs(
    scope_models INTEGER[],
    pair_models INTEGER[], pair_bases TEXT[], pair_thumbs INTEGER[], pair_downloads BIGINT[], pair_images BIGINT[],
    OUT inserted BIGINT, OUT updated BIGINT, OUT deleted BIGINT, OUT unchanged BIGINT, OUT clamped TEXT)
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    PERFORM 1
    FROM unnest(pair_models, pair_bases, pair_thumbs, pair_downloads, pair_images) AS g (model_id, base_model, thumbs, downloads, images)
    JOIN "ModelBaseModelMetric" t ON t."modelId" = g.model_id AND t."baseModel" = g.base_model
    WHERE g.thumbs IS NULL
       OR (t."thumbsUpCount", t."downloadCount", t."imageCount")
          IS DISTINCT FROM (g.thumbs, least(g.downloads, 2147483647)::int, least(g.images, 2147483647)::int)
    ORDER BY t."modelId", t."baseModel"
    FOR UPDATE OF t;
    IF cardinality(scope_models) > 0 THEN
        -- And the rows of models in scope that are not among the pairs: they go.
        PERFORM 1 FROM "ModelBaseModelMetric" t
        WHERE t."modelId" = ANY (scope_models)
          AND (t."modelId", t."baseModel") NOT IN (SELECT p.model_id, p.base_model FROM unnest(pair_models, pair_bases) AS p (model_id, base_model))
        ORDER BY t."modelId", t."baseModel"
        FOR UPDATE;
    END IF;

    WITH given AS (
        SELECT g.*, g.model_id = ANY (scope_models) AS whole,
               EXISTS (SELECT 1 FROM "ModelBaseModelMetric" x WHERE x."modelId" = g.model_id AND x."baseModel" = g.base_model) AS present
        FROM unnest(pair_models, pair_bases, pair_thumbs, pair_downloads, pair_images) AS g (model_id, base_model, thumbs, downloads, images)
    ), desired AS MATERIALIZED (
        -- The model is read only where its columns are written: rows of models in scope, and new
        -- rows; a pair of a model that no longer exists is not desired.
        SELECT g.model_id AS "modelId", g.base_model AS "baseModel", g.thumbs AS "thumbsUpCount",
               least(g.downloads, 2147483647)::int AS "downloadCount", least(g.images, 2147483647)::int AS "imageCount",
               g.downloads AS raw_downloads, g.images AS raw_images, g.whole, g.present,
               NULL::"ModelStatus" AS "status", NULL::"Availability" AS "availability", NULL::int AS "nsfwLevel",
               NULL::"ModelModifier" AS "mode", NULL::boolean AS "poi", NULL::boolean AS "minor"
        FROM given g
        WHERE g.thumbs IS NOT NULL AND g.present AND NOT g.whole
        UNION ALL
        SELECT g.model_id, g.base_model, g.thumbs,
               least(g.downloads, 2147483647)::int, least(g.images, 2147483647)::int,
               g.downloads, g.images, g.whole, g.present,
               mo."status", mo."availability", mo."nsfwLevel", mo."mode", mo."poi", mo."minor"
        FROM given g JOIN "Model" mo ON mo."id" = g.model_id
        WHERE g.thumbs IS NOT NULL AND (g.whole OR NOT g.present)
    ), candidates AS (
        -- Rows that may go: pairs given as gone, pairs of models in scope, every row of those models.
        SELECT g.model_id, g.base_model FROM given g WHERE g.present AND (g.thumbs IS NULL OR g.whole)
        UNION
        SELECT x."modelId", x."baseModel" FROM "ModelBaseModelMetric" x WHERE x."modelId" = ANY (scope_models)
    ), removed AS (
        DELETE FROM "ModelBaseModelMetric" t
        USING candidates c
        WHERE t."modelId" = c.model_id AND t."baseModel" = c.base_model
          AND NOT EXISTS (SELECT 1 FROM desired d WHERE d."modelId" = t."modelId" AND d."baseModel" = t."baseModel")
        RETURNING 1
    ), changed AS (
        UPDATE "ModelBaseModelMetric" t SET
            "thumbsUpCount" = d."thumbsUpCount", "downloadCount" = d."downloadCount", "imageCount" = d."imageCount",
            "status" = CASE WHEN d.whole THEN d."status" ELSE t."status" END,
            "availability" = CASE WHEN d.whole THEN d."availability" ELSE t."availability" END,
            "nsfwLevel" = CASE WHEN d.whole THEN d."nsfwLevel" ELSE t."nsfwLevel" END,
            "mode" = CASE WHEN d.whole THEN d."mode" ELSE t."mode" END,
            "poi" = CASE WHEN d.whole THEN d."poi" ELSE t."poi" END,
            "minor" = CASE WHEN d.whole THEN d."minor" ELSE t."minor" END,
            "updatedAt" = now()
        FROM desired d
        WHERE d.present AND t."modelId" = d."modelId" AND t."baseModel" = d."baseModel"
          AND ((t."thumbsUpCount", t."downloadCount", t."imageCount") IS DISTINCT FROM (d."thumbsUpCount", d."downloadCount", d."imageCount")
               OR d.whole AND (t."status", t."availability", t."nsfwLevel", t."mode", t."poi", t."minor")
                              IS DISTINCT FROM (d."status", d."availability", d."nsfwLevel", d."mode", d."poi", d."minor"))
        RETURNING 1
    ), added AS (
        -- ON CONFLICT: the site's publish trigger may insert the zero row concurrently.
        INSERT INTO "ModelBaseModelMetric" AS t ("modelId", "baseModel", "thumbsUpCount", "downloadCount", "imageCount",
            "status", "availability", "nsfwLevel", "mode", "poi", "minor", "updatedAt")
        SELECT d."modelId", d."baseModel", d."thumbsUpCount", d."downloadCount", d."imageCount",
               d."status", d."availability", d."nsfwLevel", d."mode", d."poi", d."minor", now()
        FROM desired d
        WHERE NOT d.present
        ON CONFLICT ("modelId", "baseModel") DO UPDATE SET
            "thumbsUpCount" = excluded."thumbsUpCount", "downloadCount" = excluded."downloadCount",
            "imageCount" = excluded."imageCount", "status" = excluded."status", "availability" = excluded."availability",
            "nsfwLevel" = excluded."nsfwLevel", "mode" = excluded."mode", "poi" = excluded."poi",
            "minor" = excluded."minor", "updatedAt" = excluded."updatedAt"
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM added), (SELECT count(*) FROM changed), (SELECT count(*) FROM removed),
           (SELECT count(*) FROM desired) - (SELECT count(*) FROM added) - (SELECT count(*) FROM changed),
           (SELECT coalesce(jsonb_agg(jsonb_build_array(d."modelId", d."baseModel", d.raw_downloads, d.raw_images)), '[]')
            FROM desired d WHERE d.raw_downloads > 2147483647 OR d.raw_images > 2147483647)::text
    INTO inserted, updated, deleted, unchanged, clamped;
END;
$$;
