-- The incremental strategy's state and its set-wise functions.
--
-- The state is what has been applied so far, so that every change becomes an exact delta
-- (new minus applied) and a replayed change is a delta of zero:
--   inc_version  every Published version of an existing model, with its metric values;
--   inc_review   every qualifying review (recommended, not excluded, no TOS violation);
--   inc_thumb    per (model, base model, user): how many qualifying reviews of that user sit on
--                Published versions of that pair; the user counts while this is above zero;
--   inc_pair     per (model, base model) with a Published version: the unclamped sums, the
--                number of Published versions and the distinct thumbs-up users.
-- Invariant: inc_thumb and inc_pair are exactly the aggregates of inc_version and inc_review.
-- Each apply keeps it, whatever the order in which changes of different rows arrive, and once
-- every captured change is applied inc_version and inc_review equal the site's tables.

-- Review changes are logged per review, so that the incremental strategy re-derives only the
-- reviews that changed, never a popular model's whole history.
ALTER TABLE bmm.change_log ADD COLUMN review_id INTEGER;

-- The sums of inc_version and inc_pair change with every metric update and are not indexed:
-- room left on each page lets those updates be HOT (no index entries, a fraction of the WAL).
CREATE TABLE bmm.inc_version (
    version_id INTEGER PRIMARY KEY,
    model_id   INTEGER NOT NULL,
    base_model TEXT NOT NULL,
    downloads  BIGINT NOT NULL,
    images     BIGINT NOT NULL
) WITH (fillfactor = 75);
CREATE INDEX inc_version_model_idx ON bmm.inc_version (model_id);

CREATE TABLE bmm.inc_review (
    review_id  INTEGER PRIMARY KEY,
    version_id INTEGER NOT NULL,
    user_id    INTEGER NOT NULL
);
CREATE INDEX inc_review_version_idx ON bmm.inc_review (version_id);

CREATE TABLE bmm.inc_thumb (
    model_id   INTEGER NOT NULL,
    base_model TEXT NOT NULL,
    user_id    INTEGER NOT NULL,
    reviews    INTEGER NOT NULL,
    PRIMARY KEY (model_id, base_model, user_id)
);

CREATE TABLE bmm.inc_pair (
    model_id   INTEGER NOT NULL,
    base_model TEXT NOT NULL,
    versions   INTEGER NOT NULL,
    downloads  BIGINT NOT NULL,
    images     BIGINT NOT NULL,
    thumbs     INTEGER NOT NULL,
    PRIMARY KEY (model_id, base_model)
) WITH (fillfactor = 75);

-- Where the continuous reconciliation of each consumer goes next, and what it found so far.
CREATE TABLE bmm.reconcile_cursor (
    consumer        TEXT PRIMARY KEY,
    next_model_id   INTEGER NOT NULL DEFAULT 0,
    pass_started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_pass_at    TIMESTAMPTZ,
    checked_models  BIGINT NOT NULL DEFAULT 0,
    drifted_models  BIGINT NOT NULL DEFAULT 0,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Writes the visible rows of the pairs in inc_pair_scope, and of every pair the state or the
-- table holds for @scope_models, from inc_pair, clamped to int4, touching only rows whose values
-- differ. Returns the counts and the clamped pairs as JSON.
CREATE FUNCTION bmm.inc_write(scope_models INTEGER[],
    OUT inserted BIGINT, OUT updated BIGINT, OUT deleted BIGINT, OUT desired BIGINT, OUT clamped TEXT)
LANGUAGE plpgsql AS $$
BEGIN
    -- The pairs whose state moved; and for models whose versions or model row changed, all their
    -- pairs (a model edit changes the six copied columns of all of them) and all their rows (the
    -- site's publish trigger inserts rows the state may never hold: a version published, then
    -- deleted with its model, before the job ran).
    WITH scope AS (
        SELECT model_id, base_model FROM inc_pair_scope
        UNION SELECT p.model_id, p.base_model FROM bmm.inc_pair p WHERE p.model_id = ANY (scope_models)
        UNION SELECT t."modelId", t."baseModel" FROM "ModelBaseModelMetric" t WHERE t."modelId" = ANY (scope_models)
    ), desired AS MATERIALIZED (
        SELECT p.model_id AS "modelId", p.base_model AS "baseModel", p.thumbs AS "thumbsUpCount",
               least(p.downloads, 2147483647)::int AS "downloadCount", least(p.images, 2147483647)::int AS "imageCount",
               p.downloads AS raw_downloads, p.images AS raw_images,
               mo."status", mo."availability", mo."nsfwLevel", mo."mode", mo."poi", mo."minor"
        FROM scope s
        JOIN bmm.inc_pair p ON p.model_id = s.model_id AND p.base_model = s.base_model
        JOIN "Model" mo ON mo."id" = p.model_id
    ), removed AS (
        -- Probes the state's primary key, not the CTE: the scratch table has no statistics, and a
        -- CTE the planner believes small became a nested loop over it (seconds at 6,500 rows).
        DELETE FROM "ModelBaseModelMetric" t
        USING scope s
        WHERE t."modelId" = s.model_id AND t."baseModel" = s.base_model
          AND NOT EXISTS (SELECT 1 FROM bmm.inc_pair p JOIN "Model" mo ON mo."id" = p.model_id
                          WHERE p.model_id = t."modelId" AND p.base_model = t."baseModel")
        RETURNING 1
    ), changed AS (
        UPDATE "ModelBaseModelMetric" t SET
            "thumbsUpCount" = d."thumbsUpCount", "downloadCount" = d."downloadCount", "imageCount" = d."imageCount",
            "status" = d."status", "availability" = d."availability", "nsfwLevel" = d."nsfwLevel",
            "mode" = d."mode", "poi" = d."poi", "minor" = d."minor", "updatedAt" = now()
        FROM desired d
        WHERE t."modelId" = d."modelId" AND t."baseModel" = d."baseModel"
          AND (t."thumbsUpCount", t."downloadCount", t."imageCount", t."status", t."availability", t."nsfwLevel", t."mode", t."poi", t."minor")
              IS DISTINCT FROM
              (d."thumbsUpCount", d."downloadCount", d."imageCount", d."status", d."availability", d."nsfwLevel", d."mode", d."poi", d."minor")
        RETURNING 1
    ), added AS (
        -- ON CONFLICT: the site's publish trigger may insert the zero row concurrently.
        INSERT INTO "ModelBaseModelMetric" AS t ("modelId", "baseModel", "thumbsUpCount", "downloadCount", "imageCount",
            "status", "availability", "nsfwLevel", "mode", "poi", "minor", "updatedAt")
        SELECT d."modelId", d."baseModel", d."thumbsUpCount", d."downloadCount", d."imageCount",
               d."status", d."availability", d."nsfwLevel", d."mode", d."poi", d."minor", now()
        FROM desired d
        WHERE NOT EXISTS (SELECT 1 FROM "ModelBaseModelMetric" x WHERE x."modelId" = d."modelId" AND x."baseModel" = d."baseModel")
        ON CONFLICT ("modelId", "baseModel") DO UPDATE SET
            "thumbsUpCount" = excluded."thumbsUpCount", "downloadCount" = excluded."downloadCount",
            "imageCount" = excluded."imageCount", "status" = excluded."status", "availability" = excluded."availability",
            "nsfwLevel" = excluded."nsfwLevel", "mode" = excluded."mode", "poi" = excluded."poi",
            "minor" = excluded."minor", "updatedAt" = excluded."updatedAt"
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM added), (SELECT count(*) FROM changed), (SELECT count(*) FROM removed),
           (SELECT count(*) FROM desired),
           (SELECT coalesce(jsonb_agg(jsonb_build_array(d."modelId", d."baseModel", d.raw_downloads, d.raw_images)), '[]')
            FROM desired d WHERE d.raw_downloads > 2147483647 OR d.raw_images > 2147483647)::text
    INTO inserted, updated, deleted, desired, clamped;
END;
$$;

-- The scratch tables of one apply; dropped at commit.
CREATE FUNCTION bmm.inc_scratch() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL client_min_messages = warning;
    CREATE TEMP TABLE IF NOT EXISTS inc_version_change (
        version_id INTEGER, old_model INTEGER, old_base TEXT, old_downloads BIGINT, old_images BIGINT,
        new_model INTEGER, new_base TEXT, new_downloads BIGINT, new_images BIGINT) ON COMMIT DROP;
    CREATE TEMP TABLE IF NOT EXISTS inc_review_change (
        review_id INTEGER, old_version INTEGER, old_user INTEGER, new_version INTEGER, new_user INTEGER) ON COMMIT DROP;
    CREATE TEMP TABLE IF NOT EXISTS inc_thumb_delta (
        model_id INTEGER, base_model TEXT, user_id INTEGER, reviews INTEGER) ON COMMIT DROP;
    CREATE TEMP TABLE IF NOT EXISTS inc_pair_delta (
        model_id INTEGER, base_model TEXT, versions INTEGER, downloads BIGINT, images BIGINT, thumbs INTEGER) ON COMMIT DROP;
    CREATE TEMP TABLE IF NOT EXISTS inc_pair_scope (model_id INTEGER, base_model TEXT) ON COMMIT DROP;
    TRUNCATE inc_version_change, inc_review_change, inc_thumb_delta, inc_pair_delta, inc_pair_scope;
END;
$$;

-- Applies the changes of @changed_models (their versions and version metrics, and the model rows)
-- and of @changed_reviews as exact deltas against the applied state, then writes the visible rows
-- that moved, and every row of @structural_models (those changed through a version or the model row).
-- Idempotent: applying the same ids again finds nothing different and writes nothing.
-- anomalies counts state that went below zero, which only drift can cause (reconciliation repairs it).
CREATE FUNCTION bmm.inc_apply(changed_models INTEGER[], changed_reviews INTEGER[], structural_models INTEGER[],
    OUT inserted BIGINT, OUT updated BIGINT, OUT deleted BIGINT, OUT desired BIGINT, OUT clamped TEXT,
    OUT version_changes BIGINT, OUT review_changes BIGINT, OUT anomalies BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    negative_users BIGINT;
    negative_pairs BIGINT;
BEGIN
    PERFORM bmm.inc_scratch();

    -- 1. The Published versions of the changed models as they are now, against those applied
    --    (including any applied version that now belongs to one of these models: a move).
    INSERT INTO inc_version_change
    WITH now_published AS (
        SELECT v."id", v."modelId", v."baseModel",
               coalesce(m."downloadCount", 0)::bigint AS downloads, coalesce(m."imageCount", 0)::bigint AS images
        FROM (SELECT DISTINCT unnest(changed_models) AS id) ids
        JOIN "ModelVersion" v ON v."modelId" = ids.id
        JOIN "Model" mo ON mo."id" = v."modelId"
        LEFT JOIN "ModelVersionMetric" m ON m."modelVersionId" = v."id"
        WHERE v."status" = 'Published'
    ), applied AS (
        SELECT s.* FROM bmm.inc_version s WHERE s.model_id = ANY (changed_models)
        UNION
        SELECT s.* FROM bmm.inc_version s JOIN now_published n ON n."id" = s.version_id
    )
    SELECT coalesce(a.version_id, n."id"), a.model_id, a.base_model, a.downloads, a.images,
           n."modelId", n."baseModel", n.downloads, n.images
    FROM applied a FULL JOIN now_published n ON n."id" = a.version_id
    WHERE (a.model_id, a.base_model, a.downloads, a.images) IS DISTINCT FROM (n."modelId", n."baseModel", n.downloads, n.images);
    GET DIAGNOSTICS version_changes = ROW_COUNT;

    INSERT INTO inc_pair_delta
    SELECT old_model, old_base, -1, -old_downloads, -old_images, 0 FROM inc_version_change WHERE old_model IS NOT NULL
    UNION ALL
    SELECT new_model, new_base, 1, new_downloads, new_images, 0 FROM inc_version_change WHERE new_model IS NOT NULL;

    -- A version that leaves its pair (unpublished, deleted, moved) takes its reviewers along.
    INSERT INTO inc_thumb_delta
    SELECT c.old_model, c.old_base, r.user_id, -1
    FROM inc_version_change c JOIN bmm.inc_review r ON r.version_id = c.version_id
    WHERE c.old_model IS NOT NULL AND (c.old_model, c.old_base) IS DISTINCT FROM (c.new_model, c.new_base)
    UNION ALL
    SELECT c.new_model, c.new_base, r.user_id, 1
    FROM inc_version_change c JOIN bmm.inc_review r ON r.version_id = c.version_id
    WHERE c.new_model IS NOT NULL AND (c.old_model, c.old_base) IS DISTINCT FROM (c.new_model, c.new_base);

    DELETE FROM bmm.inc_version s USING inc_version_change c WHERE s.version_id = c.version_id AND c.new_model IS NULL;
    INSERT INTO bmm.inc_version (version_id, model_id, base_model, downloads, images)
    SELECT version_id, new_model, new_base, new_downloads, new_images FROM inc_version_change WHERE new_model IS NOT NULL
    ON CONFLICT (version_id) DO UPDATE SET model_id = excluded.model_id, base_model = excluded.base_model,
        downloads = excluded.downloads, images = excluded.images;

    -- 2. The changed reviews as they are now, against those applied; each side counts at the
    --    pair its version belongs to in the state just written.
    INSERT INTO inc_review_change
    WITH qualifying AS (
        SELECT r."id", r."modelVersionId", r."userId" FROM "ResourceReview" r
        WHERE r."id" = ANY (changed_reviews) AND r."recommended" AND NOT r."exclude" AND NOT r."tosViolation"
    ), applied AS (
        SELECT * FROM bmm.inc_review WHERE review_id = ANY (changed_reviews)
    )
    SELECT coalesce(a.review_id, q."id"), a.version_id, a.user_id, q."modelVersionId", q."userId"
    FROM applied a FULL JOIN qualifying q ON q."id" = a.review_id
    WHERE (a.version_id, a.user_id) IS DISTINCT FROM (q."modelVersionId", q."userId");
    GET DIAGNOSTICS review_changes = ROW_COUNT;

    INSERT INTO inc_thumb_delta
    SELECT v.model_id, v.base_model, c.old_user, -1 FROM inc_review_change c JOIN bmm.inc_version v ON v.version_id = c.old_version
    UNION ALL
    SELECT v.model_id, v.base_model, c.new_user, 1 FROM inc_review_change c JOIN bmm.inc_version v ON v.version_id = c.new_version;

    DELETE FROM bmm.inc_review s USING inc_review_change c WHERE s.review_id = c.review_id AND c.new_version IS NULL;
    INSERT INTO bmm.inc_review (review_id, version_id, user_id)
    SELECT review_id, new_version, new_user FROM inc_review_change WHERE new_version IS NOT NULL
    ON CONFLICT (review_id) DO UPDATE SET version_id = excluded.version_id, user_id = excluded.user_id;

    -- 3. Multiplicities: a user enters a pair's count when theirs rises from zero, leaves it when it returns to zero.
    WITH delta AS (
        SELECT model_id, base_model, user_id, sum(inc_thumb_delta.reviews)::int AS reviews
        FROM inc_thumb_delta GROUP BY model_id, base_model, user_id HAVING sum(inc_thumb_delta.reviews) <> 0
    ), moved AS MATERIALIZED (
        SELECT d.model_id, d.base_model, d.user_id, coalesce(t.reviews, 0) AS before, coalesce(t.reviews, 0) + d.reviews AS after
        FROM delta d LEFT JOIN bmm.inc_thumb t ON t.model_id = d.model_id AND t.base_model = d.base_model AND t.user_id = d.user_id
    ), removed AS (
        DELETE FROM bmm.inc_thumb t USING moved m
        WHERE t.model_id = m.model_id AND t.base_model = m.base_model AND t.user_id = m.user_id AND m.after <= 0
    ), kept AS (
        INSERT INTO bmm.inc_thumb (model_id, base_model, user_id, reviews)
        SELECT model_id, base_model, user_id, after FROM moved WHERE after > 0
        ON CONFLICT (model_id, base_model, user_id) DO UPDATE SET reviews = excluded.reviews
    ), counted AS (
        INSERT INTO inc_pair_delta
        SELECT model_id, base_model, 0, 0, 0,
               sum(CASE WHEN before <= 0 AND after > 0 THEN 1 WHEN before > 0 AND after <= 0 THEN -1 ELSE 0 END)::int
        FROM moved GROUP BY model_id, base_model
    )
    SELECT count(*) FILTER (WHERE after < 0) INTO negative_users FROM moved;

    -- 4. Pairs: unclamped sums, versions and distinct users move by their deltas; a pair without
    --    a Published version is gone.
    WITH delta AS (
        SELECT model_id, base_model, sum(versions)::int AS versions, sum(downloads)::bigint AS downloads,
               sum(images)::bigint AS images, sum(thumbs)::int AS thumbs
        FROM inc_pair_delta GROUP BY model_id, base_model
        -- A version moved out and back, or counts that cancel, move nothing.
        HAVING sum(versions) <> 0 OR sum(downloads) <> 0 OR sum(images) <> 0 OR sum(thumbs) <> 0
    ), moved AS MATERIALIZED (
        SELECT d.model_id, d.base_model,
               coalesce(p.versions, 0) + d.versions AS versions, coalesce(p.downloads, 0) + d.downloads AS downloads,
               coalesce(p.images, 0) + d.images AS images, coalesce(p.thumbs, 0) + d.thumbs AS thumbs
        FROM delta d LEFT JOIN bmm.inc_pair p ON p.model_id = d.model_id AND p.base_model = d.base_model
    ), removed AS (
        DELETE FROM bmm.inc_pair p USING moved m
        WHERE p.model_id = m.model_id AND p.base_model = m.base_model AND m.versions <= 0
    ), kept AS (
        INSERT INTO bmm.inc_pair (model_id, base_model, versions, downloads, images, thumbs)
        SELECT model_id, base_model, versions, downloads, images, greatest(thumbs, 0) FROM moved WHERE versions > 0
        ON CONFLICT (model_id, base_model) DO UPDATE SET versions = excluded.versions, downloads = excluded.downloads,
            images = excluded.images, thumbs = excluded.thumbs
    ), scoped AS (
        INSERT INTO inc_pair_scope SELECT model_id, base_model FROM moved
    )
    SELECT count(*) FILTER (WHERE versions < 0 OR downloads < 0 OR images < 0 OR thumbs < 0 OR (versions = 0 AND thumbs <> 0))
    INTO negative_pairs FROM moved;
    anomalies := negative_users + negative_pairs;

    SELECT w.inserted, w.updated, w.deleted, w.desired, w.clamped INTO inserted, updated, deleted, desired, clamped
    FROM bmm.inc_write(structural_models) w;
END;
$$;

-- Rebuilds the whole state from the tables as this transaction sees them (the bootstrap, run in
-- one REPEATABLE READ transaction with the consumer's position; see IncrementalState).
CREATE FUNCTION bmm.inc_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE bmm.inc_version, bmm.inc_review, bmm.inc_thumb, bmm.inc_pair;
    INSERT INTO bmm.inc_version (version_id, model_id, base_model, downloads, images)
    SELECT v."id", v."modelId", v."baseModel", coalesce(m."downloadCount", 0), coalesce(m."imageCount", 0)
    FROM "ModelVersion" v JOIN "Model" mo ON mo."id" = v."modelId"
    LEFT JOIN "ModelVersionMetric" m ON m."modelVersionId" = v."id"
    WHERE v."status" = 'Published';
    INSERT INTO bmm.inc_review (review_id, version_id, user_id)
    SELECT r."id", r."modelVersionId", r."userId" FROM "ResourceReview" r
    WHERE r."recommended" AND NOT r."exclude" AND NOT r."tosViolation";
    INSERT INTO bmm.inc_thumb (model_id, base_model, user_id, reviews)
    SELECT v.model_id, v.base_model, r.user_id, count(*)
    FROM bmm.inc_review r JOIN bmm.inc_version v ON v.version_id = r.version_id
    GROUP BY v.model_id, v.base_model, r.user_id;
    INSERT INTO bmm.inc_pair (model_id, base_model, versions, downloads, images, thumbs)
    SELECT v.model_id, v.base_model, v.versions, v.downloads, v.images, coalesce(t.thumbs, 0)
    FROM (SELECT model_id, base_model, count(*)::int AS versions, sum(downloads)::bigint AS downloads, sum(images)::bigint AS images
          FROM bmm.inc_version GROUP BY model_id, base_model) v
    LEFT JOIN (SELECT model_id, base_model, count(*)::int AS thumbs FROM bmm.inc_thumb GROUP BY model_id, base_model) t
        ON t.model_id = v.model_id AND t.base_model = v.base_model;
    ANALYZE bmm.inc_version, bmm.inc_review, bmm.inc_thumb, bmm.inc_pair;
END;
$$;

-- Makes the whole visible table equal to inc_pair, writing only the rows that differ.
CREATE FUNCTION bmm.inc_write_all(OUT inserted BIGINT, OUT updated BIGINT, OUT deleted BIGINT)
LANGUAGE plpgsql AS $$
BEGIN
    WITH desired AS MATERIALIZED (
        SELECT p.model_id AS "modelId", p.base_model AS "baseModel", p.thumbs AS "thumbsUpCount",
               least(p.downloads, 2147483647)::int AS "downloadCount", least(p.images, 2147483647)::int AS "imageCount",
               mo."status", mo."availability", mo."nsfwLevel", mo."mode", mo."poi", mo."minor"
        FROM bmm.inc_pair p JOIN "Model" mo ON mo."id" = p.model_id
    ), removed AS (
        DELETE FROM "ModelBaseModelMetric" t
        WHERE NOT EXISTS (SELECT 1 FROM desired d WHERE d."modelId" = t."modelId" AND d."baseModel" = t."baseModel")
        RETURNING 1
    ), changed AS (
        UPDATE "ModelBaseModelMetric" t SET
            "thumbsUpCount" = d."thumbsUpCount", "downloadCount" = d."downloadCount", "imageCount" = d."imageCount",
            "status" = d."status", "availability" = d."availability", "nsfwLevel" = d."nsfwLevel",
            "mode" = d."mode", "poi" = d."poi", "minor" = d."minor", "updatedAt" = now()
        FROM desired d
        WHERE t."modelId" = d."modelId" AND t."baseModel" = d."baseModel"
          AND (t."thumbsUpCount", t."downloadCount", t."imageCount", t."status", t."availability", t."nsfwLevel", t."mode", t."poi", t."minor")
              IS DISTINCT FROM
              (d."thumbsUpCount", d."downloadCount", d."imageCount", d."status", d."availability", d."nsfwLevel", d."mode", d."poi", d."minor")
        RETURNING 1
    ), added AS (
        INSERT INTO "ModelBaseModelMetric" ("modelId", "baseModel", "thumbsUpCount", "downloadCount", "imageCount",
            "status", "availability", "nsfwLevel", "mode", "poi", "minor", "updatedAt")
        SELECT d."modelId", d."baseModel", d."thumbsUpCount", d."downloadCount", d."imageCount",
               d."status", d."availability", d."nsfwLevel", d."mode", d."poi", d."minor", now()
        FROM desired d
        WHERE NOT EXISTS (SELECT 1 FROM "ModelBaseModelMetric" x WHERE x."modelId" = d."modelId" AND x."baseModel" = d."baseModel")
        ON CONFLICT ("modelId", "baseModel") DO NOTHING
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM added), (SELECT count(*) FROM changed), (SELECT count(*) FROM removed)
    INTO inserted, updated, deleted;
END;
$$;

-- Re-derives everything about @models from the site's tables: their versions and every review on
-- them through an apply, then their multiplicities and pairs recomputed from the state itself
-- (not moved by deltas), then their visible rows. Used for drift found by reconciliation and
-- for models given to `bmm enqueue`.
CREATE FUNCTION bmm.inc_repair(repair_models INTEGER[],
    OUT inserted BIGINT, OUT updated BIGINT, OUT deleted BIGINT, OUT desired BIGINT, OUT clamped TEXT)
LANGUAGE plpgsql AS $$
DECLARE
    review_ids INTEGER[];
BEGIN
    SELECT coalesce(array_agg(DISTINCT id), '{}') INTO review_ids FROM (
        SELECT r."id" FROM "ModelVersion" v JOIN "ResourceReview" r ON r."modelVersionId" = v."id"
        WHERE v."modelId" = ANY (repair_models)
        UNION ALL
        SELECT r.review_id FROM bmm.inc_version v JOIN bmm.inc_review r ON r.version_id = v.version_id
        WHERE v.model_id = ANY (repair_models)
    ) ids;
    PERFORM bmm.inc_apply(repair_models, review_ids, repair_models);

    DELETE FROM bmm.inc_thumb WHERE model_id = ANY (repair_models);
    INSERT INTO bmm.inc_thumb (model_id, base_model, user_id, reviews)
    SELECT v.model_id, v.base_model, r.user_id, count(*)
    FROM bmm.inc_version v JOIN bmm.inc_review r ON r.version_id = v.version_id
    WHERE v.model_id = ANY (repair_models)
    GROUP BY v.model_id, v.base_model, r.user_id;

    DELETE FROM bmm.inc_pair WHERE model_id = ANY (repair_models);
    INSERT INTO bmm.inc_pair (model_id, base_model, versions, downloads, images, thumbs)
    SELECT v.model_id, v.base_model, count(*)::int, sum(v.downloads)::bigint, sum(v.images)::bigint,
           (SELECT count(*) FROM bmm.inc_thumb t WHERE t.model_id = v.model_id AND t.base_model = v.base_model)::int
    FROM bmm.inc_version v WHERE v.model_id = ANY (repair_models)
    GROUP BY v.model_id, v.base_model;

    TRUNCATE inc_pair_scope;
    SELECT w.inserted, w.updated, w.deleted, w.desired, w.clamped INTO inserted, updated, deleted, desired, clamped
    FROM bmm.inc_write(repair_models) w;
END;
$$;

-- Compares the models with ids in [low, high) with a recomputation from the site's tables, at
-- the point this transaction sees: the visible rows always, and with include_state the
-- incremental state too (applied versions and reviews, multiplicities, unclamped pairs).
-- Models with changes captured past the consumer's position are skipped: they are pending, not
-- drifted. Returns one row per drifted (model, kind) with a sample of what differs.
CREATE FUNCTION bmm.reconcile_check(consumer_name TEXT, include_state BOOLEAN, low INTEGER, high INTEGER)
RETURNS TABLE (model_id INTEGER, kind TEXT, sample TEXT)
LANGUAGE sql STABLE AS $$
    WITH pending AS (
        SELECT DISTINCT l.model_id FROM bmm.change_log l JOIN bmm.consumer c ON c.name = consumer_name
        WHERE (l.xid, l.model_id) > (c.xid, c.model_id) AND l.model_id >= low AND l.model_id < high
    ), versions AS (
        -- From the models' primary key: the site indexes versions by model with a hash index,
        -- which serves lookups, not ranges. A version's model always exists (foreign key).
        SELECT v."id", v."modelId", v."baseModel", v."status",
               coalesce(m."downloadCount", 0)::bigint AS downloads, coalesce(m."imageCount", 0)::bigint AS images
        FROM "Model" mo JOIN "ModelVersion" v ON v."modelId" = mo."id"
        LEFT JOIN "ModelVersionMetric" m ON m."modelVersionId" = v."id"
        WHERE mo."id" >= low AND mo."id" < high
    ), published AS (
        SELECT * FROM versions WHERE "status" = 'Published'
    ), reviews AS (
        SELECT r."id", r."modelVersionId", r."userId" FROM versions v JOIN "ResourceReview" r ON r."modelVersionId" = v."id"
        WHERE r."recommended" AND NOT r."exclude" AND NOT r."tosViolation"
    ), thumbs AS (
        SELECT p."modelId", p."baseModel", r."userId", count(*)::int AS reviews
        FROM published p JOIN reviews r ON r."modelVersionId" = p."id"
        GROUP BY p."modelId", p."baseModel", r."userId"
    ), pairs AS (
        SELECT p."modelId", p."baseModel", count(*)::int AS versions, sum(p.downloads)::bigint AS downloads, sum(p.images)::bigint AS images,
               coalesce((SELECT count(*) FROM thumbs t WHERE t."modelId" = p."modelId" AND t."baseModel" = p."baseModel"), 0)::int AS thumbs
        FROM published p GROUP BY p."modelId", p."baseModel"
    ), expected AS (
        SELECT p."modelId", p."baseModel", p.thumbs AS "thumbsUpCount",
               least(p.downloads, 2147483647)::int AS "downloadCount", least(p.images, 2147483647)::int AS "imageCount",
               mo."status", mo."availability", mo."nsfwLevel", mo."mode", mo."poi", mo."minor"
        FROM pairs p JOIN "Model" mo ON mo."id" = p."modelId"
    ), visible AS (
        SELECT t."modelId", t."baseModel", t."thumbsUpCount", t."downloadCount", t."imageCount",
               t."status", t."availability", t."nsfwLevel", t."mode", t."poi", t."minor"
        FROM "ModelBaseModelMetric" t WHERE t."modelId" >= low AND t."modelId" < high
    ), drift AS (
        SELECT coalesce(e."modelId", a."modelId") AS model_id, 'table' AS kind,
               format('%s: table %s, expected %s', coalesce(e."baseModel", a."baseModel"),
                      coalesce(to_jsonb(a)::text, 'no row'), coalesce(to_jsonb(e)::text, 'no row')) AS sample
        FROM expected e FULL JOIN visible a ON a."modelId" = e."modelId" AND a."baseModel" = e."baseModel"
        WHERE a IS DISTINCT FROM e
        UNION ALL
        SELECT coalesce(e."modelId", s.model_id), 'pair',
               format('%s: state %s, expected %s', coalesce(e."baseModel", s.base_model),
                      coalesce(to_jsonb(s)::text, 'no row'), coalesce(to_jsonb(e)::text, 'no row'))
        FROM pairs e FULL JOIN (SELECT * FROM bmm.inc_pair WHERE include_state AND inc_pair.model_id >= low AND inc_pair.model_id < high) s
            ON s.model_id = e."modelId" AND s.base_model = e."baseModel"
        WHERE include_state AND (s.versions, s.downloads, s.images, s.thumbs) IS DISTINCT FROM (e.versions, e.downloads, e.images, e.thumbs)
        UNION ALL
        SELECT coalesce(e."modelId", s.model_id), 'multiplicity',
               format('%s user %s: state %s, expected %s', coalesce(e."baseModel", s.base_model), coalesce(e."userId", s.user_id),
                      coalesce(s.reviews, 0), coalesce(e.reviews, 0))
        FROM thumbs e FULL JOIN (SELECT * FROM bmm.inc_thumb WHERE include_state AND inc_thumb.model_id >= low AND inc_thumb.model_id < high) s
            ON s.model_id = e."modelId" AND s.base_model = e."baseModel" AND s.user_id = e."userId"
        WHERE include_state AND s.reviews IS DISTINCT FROM e.reviews
        UNION ALL
        SELECT coalesce(e."modelId", s.model_id), 'version',
               format('version %s: state %s, expected %s', coalesce(e."id", s.version_id),
                      coalesce(to_jsonb(s)::text, 'none'), coalesce(to_jsonb(e)::text, 'none'))
        FROM published e FULL JOIN (SELECT * FROM bmm.inc_version WHERE include_state AND inc_version.model_id >= low AND inc_version.model_id < high) s
            ON s.version_id = e."id"
        WHERE include_state AND (s.model_id, s.base_model, s.downloads, s.images) IS DISTINCT FROM (e."modelId", e."baseModel", e.downloads, e.images)
        UNION ALL
        SELECT v."modelId", 'review',
               format('review %s: state %s, expected %s', coalesce(e."id", s.review_id),
                      coalesce(to_jsonb(s)::text, 'none'), coalesce(to_jsonb(e)::text, 'none'))
        FROM reviews e
        FULL JOIN (SELECT r.* FROM bmm.inc_review r JOIN versions v ON v."id" = r.version_id WHERE include_state) s ON s.review_id = e."id"
        JOIN versions v ON v."id" = coalesce(e."modelVersionId", s.version_id)
        WHERE include_state AND (s.version_id, s.user_id) IS DISTINCT FROM (e."modelVersionId", e."userId")
    )
    SELECT d.model_id, d.kind, min(d.sample)
    FROM drift d
    WHERE d.model_id NOT IN (SELECT p.model_id FROM pending p)
    GROUP BY d.model_id, d.kind
$$;
