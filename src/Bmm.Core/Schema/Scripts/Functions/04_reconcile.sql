-- The models that changes captured past @consumer_name's position name (whatever their versions'
-- status): the job has not applied them yet, so a difference there is pending, not drift. For
-- reconciliation and for verify on a live database.
CREATE OR REPLACE FUNCTION bmm.pending_models(consumer_name TEXT) RETURNS SETOF INTEGER
LANGUAGE sql STABLE AS $$
    SELECT p.model_id
    FROM bmm.consumer c, bmm.changed_pairs(c.xid, c.kind, c.row_id, 9223372036854775807, true) p
    WHERE c.name = consumer_name
    UNION ALL
    -- The clickhouse strategy's models mirrored but not yet written.
    SELECT p.model_id FROM bmm.clickhouse_pending p WHERE consumer_name = 'clickhouse'
$$;

-- Compares the models with ids in [low, high) with a recomputation from the site's tables, at the
-- point this transaction sees: the visible rows always, and with include_state the incremental
-- state too (placements, reviews, multiplicities, the true sums kept aside). Models that changes
-- captured past the consumer's position name are skipped: they are pending, not drifted. Returns
-- one row per drifted (model, kind) with a sample of what differs.
CREATE OR REPLACE FUNCTION bmm.reconcile_check(consumer_name TEXT, include_state BOOLEAN, low INTEGER, high INTEGER)
RETURNS TABLE (model_id INTEGER, kind TEXT, sample TEXT)
LANGUAGE sql STABLE AS $$
    WITH pending AS (
        SELECT DISTINCT p.model_id
        FROM bmm.pending_models(consumer_name) AS p (model_id)
        WHERE p.model_id >= low AND p.model_id < high
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
        SELECT p."modelId", p."baseModel", sum(p.downloads)::bigint AS downloads, sum(p.images)::bigint AS images,
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
        -- True sums the table cannot hold are kept aside exactly, and only those.
        SELECT coalesce(e."modelId", s.model_id), 'overflow',
               format('%s: kept %s, expected %s', coalesce(e."baseModel", s.base_model),
                      coalesce(to_jsonb(s)::text, 'none'), coalesce(to_jsonb(e)::text, 'none'))
        FROM (SELECT * FROM pairs WHERE downloads NOT BETWEEN 0 AND 2147483647 OR images NOT BETWEEN 0 AND 2147483647) e
        FULL JOIN (SELECT * FROM bmm.inc_overflow o WHERE include_state AND o.model_id >= low AND o.model_id < high) s
            ON s.model_id = e."modelId" AND s.base_model = e."baseModel"
        WHERE include_state AND (s.downloads, s.images) IS DISTINCT FROM (e.downloads, e.images)
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
        WHERE include_state AND (s.model_id, s.base_model) IS DISTINCT FROM (e."modelId", e."baseModel")
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
