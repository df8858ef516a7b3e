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
-- Rows are locked in key order, as the site's own trigger locks a model's rows when the model is
-- edited: two writers taking locks in one order cannot wait for each other in a cycle (the follow
-- benchmark caught a deadlock in which PostgreSQL aborted the site's edit). Two kinds of model:
--   * a model with a pair given as gone or a stray row: its rows that differ or go are locked
--     first, strays included, in one statement in key order, and written after; the lock returns
--     where each row is (its ctid, stable while we hold the lock), and the row is updated there;
--   * every other model (nearly all: a metric change, a setbased recount): its pairs are updated by
--     key in one statement, in key order, which locks each row as it writes it. A row whose values
--     are equal is neither locked nor written, so it costs no WAL.
-- Either way the rows whose counters change or that go are locked in one statement per model, in
-- key order. The pairs left (equal, or without a row) are then probed by key (LATERAL ... LIMIT 1,
-- a probe: a planner expecting tens of thousands of pairs otherwise hashed the whole table or
-- "Model", 2 s of a day's backlog's 4 s here), and the few rows still to write are written by key
-- after: a copied column of a locked model in scope, a zero row the publish trigger inserted
-- meanwhile, the rows of a deleted model (which no other writer touches). A row not locked is
-- updated by key, so that a concurrent update of it is followed.
-- Custom plans: the arrays' sizes are then known to the planner (a generic plan guessed 100 rows).
-- No JIT: compiling costs more than these keyed statements take. No sequential scans: every
-- statement here is keyed, and for a day's 49,000 locked rows the planner hashed the whole table
-- by ctid (560 ms) rather than fetch each row where the lock found it (100 ms). Arrays are read by
-- unnest in the select list, which walks them side by side: unnest(a, b, ...) in FROM first
-- stores each array's rows apart (a day's 64,000 pairs: 130 ms a statement, against 10), here and
-- in every function that passes pairs on.
CREATE OR REPLACE FUNCTION bmm.write_pairs(
    scope_models INTEGER[],
    pair_models INTEGER[], pair_bases TEXT[], pair_thumbs INTEGER[], pair_downloads BIGINT[], pair_images BIGINT[],
    OUT inserted BIGINT, OUT updated BIGINT, OUT deleted BIGINT, OUT unchanged BIGINT, OUT clamped TEXT)
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan SET jit = off SET enable_seqscan = off AS $$
DECLARE
    -- Rows of models in scope that are not among the pairs: they go.
    stray_models INTEGER[] := '{}';
    stray_bases TEXT[] := '{}';
    -- Models with a pair given as gone or a stray: their rows are locked before they are written.
    locking_models INTEGER[];
    -- Their rows that differ or go, locked, and where those rows are.
    locked_models INTEGER[] := '{}';
    locked_bases TEXT[] := '{}';
    locked_rows TID[] := '{}';
    -- The other models' pairs whose rows were updated by key.
    done_models INTEGER[];
    done_bases TEXT[];
BEGIN
    IF cardinality(scope_models) > 0 THEN
        SELECT coalesce(array_agg(t."modelId"), '{}'), coalesce(array_agg(t."baseModel"), '{}') INTO stray_models, stray_bases
        FROM "ModelBaseModelMetric" t
        WHERE t."modelId" = ANY (scope_models)
          AND (t."modelId", t."baseModel") NOT IN (SELECT unnest(pair_models), unnest(pair_bases));
    END IF;
    locking_models := ARRAY(SELECT DISTINCT x.model_id
                            FROM (SELECT unnest(stray_models) AS model_id
                                  UNION ALL
                                  SELECT g.model_id FROM (SELECT unnest(pair_models) AS model_id, unnest(pair_thumbs) AS thumbs) AS g
                                  WHERE g.thumbs IS NULL) x);

    IF cardinality(locking_models) > 0 THEN
        SELECT coalesce(array_agg(l."modelId") FILTER (WHERE l.pair), '{}'), coalesce(array_agg(l."baseModel") FILTER (WHERE l.pair), '{}'),
               coalesce(array_agg(l.row_id) FILTER (WHERE l.pair), '{}')
        INTO locked_models, locked_bases, locked_rows
        FROM (SELECT t."modelId", t."baseModel", t.ctid AS row_id, g.pair
              FROM (SELECT p.* FROM (SELECT unnest(pair_models) AS model_id, unnest(pair_bases) AS base_model, unnest(pair_thumbs) AS thumbs,
                                            unnest(pair_downloads) AS downloads, unnest(pair_images) AS images, true AS pair) AS p
                    WHERE p.model_id IN (SELECT unnest(locking_models))
                    UNION ALL
                    SELECT unnest(stray_models), unnest(stray_bases), NULL, NULL, NULL, false) AS g
              JOIN "ModelBaseModelMetric" t ON t."modelId" = g.model_id AND t."baseModel" = g.base_model
              WHERE g.thumbs IS NULL
                 OR (t."thumbsUpCount", t."downloadCount", t."imageCount")
                    IS DISTINCT FROM (g.thumbs, least(g.downloads, 2147483647)::int, least(g.images, 2147483647)::int)
              ORDER BY t."modelId", t."baseModel"
              FOR UPDATE OF t) l;
    END IF;

    -- The other models' rows that differ, updated by key in key order. A model in scope gets its
    -- six columns from "Model" too; one that no longer exists is left to the removal below (no
    -- other writer touches its rows).
    WITH simple AS (
        SELECT g.model_id, g.base_model, g.thumbs, least(g.downloads, 2147483647)::int AS downloads,
               least(g.images, 2147483647)::int AS images, g.model_id IN (SELECT unnest(scope_models)) AS whole
        FROM (SELECT unnest(pair_models) AS model_id, unnest(pair_bases) AS base_model, unnest(pair_thumbs) AS thumbs,
                     unnest(pair_downloads) AS downloads, unnest(pair_images) AS images) AS g
        WHERE g.thumbs IS NOT NULL AND g.model_id NOT IN (SELECT unnest(locking_models))
        ORDER BY g.model_id, g.base_model
    ), written AS (
        -- The model is read after the row is found: a pair without a row (all of a bulk load's)
        -- costs no read of "Model" here.
        UPDATE "ModelBaseModelMetric" t SET
            "thumbsUpCount" = s.thumbs, "downloadCount" = s.downloads, "imageCount" = s.images,
            "status" = CASE WHEN s.whole THEN mo."status" ELSE t."status" END,
            "availability" = CASE WHEN s.whole THEN mo."availability" ELSE t."availability" END,
            "nsfwLevel" = CASE WHEN s.whole THEN mo."nsfwLevel" ELSE t."nsfwLevel" END,
            "mode" = CASE WHEN s.whole THEN mo."mode" ELSE t."mode" END,
            "poi" = CASE WHEN s.whole THEN mo."poi" ELSE t."poi" END,
            "minor" = CASE WHEN s.whole THEN mo."minor" ELSE t."minor" END,
            "updatedAt" = now()
        FROM simple s
        LEFT JOIN LATERAL (SELECT m."status", m."availability", m."nsfwLevel", m."mode", m."poi", m."minor"
                           FROM "Model" m WHERE s.whole AND m."id" = s.model_id LIMIT 1) mo ON true
        WHERE t."modelId" = s.model_id AND t."baseModel" = s.base_model
          AND (NOT s.whole OR mo."status" IS NOT NULL)
          AND ((t."thumbsUpCount", t."downloadCount", t."imageCount") IS DISTINCT FROM (s.thumbs, s.downloads, s.images)
               OR s.whole AND (t."status", t."availability", t."nsfwLevel", t."mode", t."poi", t."minor")
                              IS DISTINCT FROM (mo."status", mo."availability", mo."nsfwLevel", mo."mode", mo."poi", mo."minor"))
        RETURNING t."modelId", t."baseModel"
    )
    SELECT coalesce(array_agg(w."modelId"), '{}'), coalesce(array_agg(w."baseModel"), '{}') INTO done_models, done_bases
    FROM written w;

    WITH given AS MATERIALIZED (
        -- IN (a set), hashed once, not = ANY (the array), searched element by element for each
        -- pair: a setbased batch gives 5,000 models in scope and 6,000 pairs, 15 million comparisons.
        SELECT g.*, g.model_id IN (SELECT unnest(scope_models)) AS whole, l.row_id, d.done IS NOT NULL AS done,
               l.row_id IS NOT NULL OR d.done IS NOT NULL OR x.present IS NOT NULL AS present
        FROM (SELECT unnest(pair_models) AS model_id, unnest(pair_bases) AS base_model, unnest(pair_thumbs) AS thumbs,
                     unnest(pair_downloads) AS downloads, unnest(pair_images) AS images) AS g
        LEFT JOIN (SELECT unnest(locked_models) AS model_id, unnest(locked_bases) AS base_model, unnest(locked_rows) AS row_id) AS l
            ON l.model_id = g.model_id AND l.base_model = g.base_model
        LEFT JOIN (SELECT unnest(done_models) AS model_id, unnest(done_bases) AS base_model, true AS done) AS d
            ON d.model_id = g.model_id AND d.base_model = g.base_model
        LEFT JOIN LATERAL (SELECT true AS present FROM "ModelBaseModelMetric" x
                           WHERE l.row_id IS NULL AND d.done IS NULL AND x."modelId" = g.model_id AND x."baseModel" = g.base_model
                           LIMIT 1) x ON true
    ), desired AS MATERIALIZED (
        -- The pairs not written yet. The model is read only where its columns are written: rows of
        -- models in scope, and new rows; a pair of a model that no longer exists is not desired.
        SELECT g.model_id AS "modelId", g.base_model AS "baseModel", g.thumbs AS "thumbsUpCount",
               least(g.downloads, 2147483647)::int AS "downloadCount", least(g.images, 2147483647)::int AS "imageCount",
               g.downloads AS raw_downloads, g.images AS raw_images, g.whole, g.present, g.row_id,
               NULL::"ModelStatus" AS "status", NULL::"Availability" AS "availability", NULL::int AS "nsfwLevel",
               NULL::"ModelModifier" AS "mode", NULL::boolean AS "poi", NULL::boolean AS "minor"
        FROM given g
        WHERE g.thumbs IS NOT NULL AND NOT g.done AND g.present AND NOT g.whole
        UNION ALL
        SELECT g.model_id, g.base_model, g.thumbs,
               least(g.downloads, 2147483647)::int, least(g.images, 2147483647)::int,
               g.downloads, g.images, g.whole, g.present, g.row_id,
               mo."status", mo."availability", mo."nsfwLevel", mo."mode", mo."poi", mo."minor"
        FROM given g
        CROSS JOIN LATERAL (SELECT m."status", m."availability", m."nsfwLevel", m."mode", m."poi", m."minor"
                            FROM "Model" m WHERE m."id" = g.model_id LIMIT 1) mo
        WHERE g.thumbs IS NOT NULL AND NOT g.done AND (g.whole OR NOT g.present)
    ), leaving AS MATERIALIZED (
        -- Rows that go: pairs given as gone, pairs of models in scope that are not desired (the
        -- model no longer exists), and the strays.
        SELECT g.model_id, g.base_model FROM given g
        WHERE g.present AND NOT g.done AND (g.thumbs IS NULL
              OR g.whole AND NOT EXISTS (SELECT 1 FROM desired d WHERE d."modelId" = g.model_id AND d."baseModel" = g.base_model))
        UNION ALL
        SELECT s.model_id, s.base_model FROM (SELECT unnest(stray_models) AS model_id, unnest(stray_bases) AS base_model) AS s
    ), removed AS (
        DELETE FROM "ModelBaseModelMetric" t
        USING leaving c
        WHERE t."modelId" = c.model_id AND t."baseModel" = c.base_model
        RETURNING 1
    ), changed_locked AS (
        -- Rows of models locked above whose counters differ, found where the lock found them.
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
        WHERE d.row_id IS NOT NULL AND t.ctid = d.row_id
        RETURNING 1
    ), changed_other AS (
        -- Rows neither locked nor updated above: only the copied columns of a model in scope may
        -- differ (or a zero row the site's publish trigger inserted meanwhile).
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
        WHERE d.present AND d.row_id IS NULL AND t."modelId" = d."modelId" AND t."baseModel" = d."baseModel"
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
    SELECT (SELECT count(*) FROM added),
           cardinality(done_models) + (SELECT count(*) FROM changed_locked) + (SELECT count(*) FROM changed_other),
           (SELECT count(*) FROM removed),
           (SELECT count(*) FROM desired) - (SELECT count(*) FROM added) - (SELECT count(*) FROM changed_locked) - (SELECT count(*) FROM changed_other),
           (SELECT coalesce(jsonb_agg(jsonb_build_array(c.model_id, c.base_model, c.downloads, c.images)), '[]')
            FROM (SELECT d."modelId" AS model_id, d."baseModel" AS base_model, d.raw_downloads AS downloads, d.raw_images AS images FROM desired d
                  UNION ALL
                  SELECT g.model_id, g.base_model, g.downloads, g.images FROM given g WHERE g.done) c
            WHERE c.downloads > 2147483647 OR c.images > 2147483647)::text
    INTO inserted, updated, deleted, unchanged, clamped;
END;
$$;
