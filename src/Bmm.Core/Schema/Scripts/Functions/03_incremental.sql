-- The incremental strategy's functions. Its state (versioned scripts 0002 and 0004):
--   inc_version   where each Published version counts: its (model, base model);
--   inc_review    every qualifying review (recommended, not excluded, no TOS violation);
--   inc_thumb     per (model, base model, user): the qualifying reviews of that user on versions
--                 counting in that pair; the user counts while this is above zero;
--   inc_overflow  the true sums of the pairs whose sums the visible table cannot hold (above
--                 int4, or below zero for a moment while deltas arrive out of order);
--   the visible table itself: every other pair's sums and distinct users.
-- Invariant: a pair's sums are the metric values of the versions counting in it, as of the
-- consumer's position; its distinct users are the users with a multiplicity above zero; and
-- inc_thumb is exactly what inc_version and inc_review give. A metric change therefore writes
-- only the visible row of the pair its version counts in, and nothing else.
--
-- Why the result is exact whatever order transactions commit in: the state moves by operations
-- that each keep the invariant, and their results do not depend on their order.
--   * A metric delta (new minus old, from the writer's own rows) adds to the pair its version
--     counts in, per the state. Deltas add, so their order does not matter, and once every delta
--     is applied a version's value is its current value.
--   * A placement (a version published, unpublished, moved, deleted) is re-derived from the
--     version's current row, never from the log's values, and moves the version's value as of
--     the step's end, v = current value - deltas logged past the step's end (read in one
--     snapshot with the current value, so a transaction is in both or in neither), from the pair
--     the state has it in to the pair it counts in now, with its reviewers. Applied after the
--     step's deltas (which went to the old pair), the old pair loses exactly what it had and the
--     new one gains exactly what it should. The last placement read is the version's current
--     row, whatever order the moves committed in; a later move has a log row of its own.
--   * A review is re-derived from its current row against the state, as are models.
-- Consumers read the log only below the horizon, in (xid, kind, row_id) order, with the position
-- advanced in the transaction that applies: every row is applied exactly once.

-- True when a metric delta of transaction @xid is already in the state the bootstrap built: the
-- transaction was visible in its snapshot (below its xmax and not running).
CREATE OR REPLACE FUNCTION bmm.inc_in_bootstrap(xid BIGINT, skip_below BIGINT, skip_except BIGINT[]) RETURNS BOOLEAN
    LANGUAGE sql IMMUTABLE AS 'SELECT skip_below IS NOT NULL AND xid < skip_below AND xid <> ALL (skip_except)';

-- The change-log rows consumer @c has not applied: past its position and not in the snapshot it
-- remembers (incremental's: a bootstrap's, or commits applied ahead of a running transaction).
-- What status, the lag gauge and /health count; inlined, so a caller's ORDER BY ... LIMIT 1
-- still walks the log's index.
CREATE OR REPLACE FUNCTION bmm.unapplied(c bmm.consumer) RETURNS SETOF bmm.change_log
LANGUAGE sql STABLE AS $$
    SELECT l.* FROM bmm.change_log l
    WHERE (l.xid, l.kind, l.row_id) > (c.xid, c.kind, c.row_id) AND NOT bmm.inc_in_bootstrap(l.xid, c.skip_below, c.skip_except)
$$;

-- The pairs a version's log row @l names: where the version counted before the change and where
-- it counts after it, each only if Published then. Inlined into the caller's scan.
CREATE OR REPLACE FUNCTION bmm.inc_version_pairs(l bmm.change_log) RETURNS TABLE (model_id INTEGER, base_model TEXT)
LANGUAGE sql IMMUTABLE AS $$
    SELECT n.model_id, n.base_model
    FROM (VALUES (CASE WHEN l.old_status = 'Published' THEN l.old_model END, l.old_base),
                 (CASE WHEN l.new_status = 'Published' THEN l.new_model END, l.new_base)) AS n (model_id, base_model)
    WHERE n.model_id IS NOT NULL
$$;

-- The log rows at or above the horizon (@below_xid) that the state does not hold yet: rows of
-- transactions that committed while an older one still runs and holds the horizon back (every
-- row this statement sees is committed). The state holds those in the consumer's remembered
-- snapshot (@skip_below, @skip_except; see inc_apply), read as two ranges so that a long
-- transaction's growing wake is not read again at every step.
CREATE OR REPLACE FUNCTION bmm.inc_ahead(below_xid BIGINT, skip_below BIGINT, skip_except BIGINT[])
RETURNS SETOF bmm.change_log LANGUAGE sql STABLE AS $$
    SELECT c.* FROM bmm.change_log c WHERE c.xid >= greatest(below_xid, skip_below)
    UNION ALL
    SELECT c.* FROM bmm.change_log c
    WHERE c.xid IN (SELECT x FROM unnest(skip_except) AS x WHERE x >= below_xid AND x < skip_below)
$$;

-- The metric values of @versions once every delta at or below the position is applied: their
-- current values minus the deltas logged past the position (those of the bootstrap's snapshot
-- excepted, which its values hold). STABLE: one snapshot for the values and the log.
CREATE OR REPLACE FUNCTION bmm.inc_values_at(versions INTEGER[], after_xid BIGINT, after_kind "char", after_row INTEGER)
RETURNS TABLE (version_id INTEGER, downloads BIGINT, images BIGINT)
LANGUAGE sql STABLE AS $$
    WITH later AS (
        SELECT l.row_id, sum(l.downloads) AS downloads, sum(l.images) AS images
        FROM bmm.change_log l
        LEFT JOIN bmm.consumer c ON c.name = 'incremental'
        -- IN (a set), not = ANY (the array): a parameter's array is searched element by element for
        -- each row, and a step cut short of a deep backlog leaves millions of rows past its end.
        WHERE (l.xid, l.kind, l.row_id) > (after_xid, after_kind, after_row) AND l.kind = 'm' AND l.row_id IN (SELECT unnest(versions))
          AND NOT bmm.inc_in_bootstrap(l.xid, c.skip_below, c.skip_except)
        GROUP BY l.row_id
    )
    SELECT v.id, coalesce(m."downloadCount", 0)::bigint - coalesce(later.downloads, 0),
           coalesce(m."imageCount", 0)::bigint - coalesce(later.images, 0)
    FROM (SELECT DISTINCT unnest(versions) AS id) v
    LEFT JOIN "ModelVersionMetric" m ON m."modelVersionId" = v.id
    LEFT JOIN later ON later.row_id = v.id
$$;

-- Applies changes to the state and writes the visible rows that moved (see the top of this file):
--   after_*        the position the changes bring the state to (the step's end, or for a repair
--                  the consumer's position);
--   m_*            metric deltas per version;
--   v_versions     versions whose placement is re-derived from their current row;
--   v_pair_*       pairs the versions' log rows name, checked for a stale row (the site's publish
--                  trigger inserts a zero row for a pair a version then leaves before the job runs);
--   r_reviews      reviews re-derived from their current row;
--   o_models       models edited or deleted: every row of theirs is written again;
--   recompute_models  models whose multiplicities and pairs are recomputed from the state rather
--                  than moved (a repair).
-- anomalies counts multiplicities or user counts that went below zero, which only drift causes.
CREATE OR REPLACE FUNCTION bmm.inc_apply_changes(
    after_xid BIGINT, after_kind "char", after_row INTEGER,
    m_versions INTEGER[], m_downloads BIGINT[], m_images BIGINT[],
    v_versions INTEGER[], v_pair_models INTEGER[], v_pair_bases TEXT[],
    r_reviews INTEGER[], o_models INTEGER[], recompute_models INTEGER[],
    OUT inserted BIGINT, OUT updated BIGINT, OUT deleted BIGINT, OUT unchanged BIGINT, OUT clamped TEXT,
    OUT models BIGINT, OUT anomalies BIGINT)
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    -- Versions moved and reviews re-derived by this step: each step below runs only if it has work.
    placements BIGINT;
    reviews BIGINT;
    -- Pair deltas: sums, users, and whether the pair may have lost its last version.
    pd_models INTEGER[] := '{}'; pd_bases TEXT[] := '{}'; pd_downloads BIGINT[] := '{}'; pd_images BIGINT[] := '{}';
    pd_thumbs INTEGER[] := '{}'; pd_check BOOLEAN[] := '{}';
    -- Multiplicity deltas per (pair, user).
    td_models INTEGER[] := '{}'; td_bases TEXT[] := '{}'; td_users INTEGER[] := '{}'; td_counts INTEGER[] := '{}';
    a_models INTEGER[]; a_bases TEXT[]; a_downloads BIGINT[]; a_images BIGINT[]; a_thumbs INTEGER[]; a_check BOOLEAN[];
    b_models INTEGER[]; b_bases TEXT[]; b_users INTEGER[]; b_counts INTEGER[];
    w_models INTEGER[]; w_bases TEXT[]; w_thumbs INTEGER[]; w_downloads BIGINT[]; w_images BIGINT[]; w_gone BOOLEAN[];
    negative BIGINT;
BEGIN
    placements := 0; reviews := 0; anomalies := 0;

    -- 1. Metric deltas go to the pair their version counts in (before this step's placements).
    IF cardinality(m_versions) > 0 THEN
        SELECT coalesce(array_agg(d.model_id), '{}'), coalesce(array_agg(d.base_model), '{}'),
               coalesce(array_agg(d.downloads), '{}'), coalesce(array_agg(d.images), '{}')
        INTO pd_models, pd_bases, pd_downloads, pd_images
        FROM (SELECT v.model_id, v.base_model, sum(m.downloads)::bigint AS downloads, sum(m.images)::bigint AS images
              FROM (SELECT unnest(m_versions) AS version_id, unnest(m_downloads) AS downloads, unnest(m_images) AS images) AS m
              -- A probe per version (LIMIT 1 keeps it one): joined, a day's 52,000 versions were
              -- merged against a scan of the whole state, twice the probes' time.
              CROSS JOIN LATERAL (SELECT v.model_id, v.base_model FROM bmm.inc_version v WHERE v.version_id = m.version_id LIMIT 1) v
              GROUP BY v.model_id, v.base_model) d;
        pd_thumbs := array_fill(0, ARRAY[cardinality(pd_models)]);
        pd_check := array_fill(false, ARRAY[cardinality(pd_models)]);
    END IF;

    -- 2. Placements: each version as it is now against where the state has it; its value as of
    --    the position leaves the old pair and joins the new one, with its reviewers.
    IF cardinality(v_versions) > 0 THEN
        CREATE TEMP TABLE IF NOT EXISTS inc_moved (version_id INTEGER, old_model INTEGER, old_base TEXT,
            new_model INTEGER, new_base TEXT, downloads BIGINT, images BIGINT) ON COMMIT DROP;
        TRUNCATE inc_moved;
        INSERT INTO inc_moved
        WITH placed AS MATERIALIZED (
            SELECT c.version_id, a.model_id AS old_model, a.base_model AS old_base, n."modelId" AS new_model, n."baseModel" AS new_base
            FROM (SELECT DISTINCT unnest(v_versions) AS version_id) c
            LEFT JOIN bmm.inc_version a ON a.version_id = c.version_id
            LEFT JOIN "ModelVersion" n ON n."id" = c.version_id AND n."status" = 'Published'
            WHERE (a.model_id, a.base_model) IS DISTINCT FROM (n."modelId", n."baseModel")
        )
        SELECT p.version_id, p.old_model, p.old_base, p.new_model, p.new_base, val.downloads, val.images
        FROM placed p
        JOIN bmm.inc_values_at(ARRAY(SELECT version_id FROM placed), after_xid, after_kind, after_row) val ON val.version_id = p.version_id;
        GET DIAGNOSTICS placements = ROW_COUNT;

        IF placements > 0 THEN
            SELECT pd_models || coalesce(array_agg(x.model_id), '{}'), pd_bases || coalesce(array_agg(x.base_model), '{}'),
                   pd_downloads || coalesce(array_agg(x.downloads), '{}'), pd_images || coalesce(array_agg(x.images), '{}'),
                   pd_thumbs || coalesce(array_agg(0), '{}'), pd_check || coalesce(array_agg(true), '{}')
            INTO pd_models, pd_bases, pd_downloads, pd_images, pd_thumbs, pd_check
            FROM (SELECT old_model AS model_id, old_base AS base_model, -downloads AS downloads, -images AS images FROM inc_moved WHERE old_model IS NOT NULL
                  UNION ALL
                  SELECT new_model, new_base, downloads, images FROM inc_moved WHERE new_model IS NOT NULL) x;

            SELECT coalesce(array_agg(x.model_id), '{}'), coalesce(array_agg(x.base_model), '{}'),
                   coalesce(array_agg(x.user_id), '{}'), coalesce(array_agg(x.reviews), '{}')
            INTO td_models, td_bases, td_users, td_counts
            FROM (SELECT m.old_model AS model_id, m.old_base AS base_model, r.user_id, -1 AS reviews
                  FROM inc_moved m JOIN bmm.inc_review r ON r.version_id = m.version_id WHERE m.old_model IS NOT NULL
                  UNION ALL
                  SELECT m.new_model, m.new_base, r.user_id, 1
                  FROM inc_moved m JOIN bmm.inc_review r ON r.version_id = m.version_id WHERE m.new_model IS NOT NULL) x;

            DELETE FROM bmm.inc_version s USING inc_moved m WHERE s.version_id = m.version_id AND m.new_model IS NULL;
            INSERT INTO bmm.inc_version (version_id, model_id, base_model)
            SELECT version_id, new_model, new_base FROM inc_moved WHERE new_model IS NOT NULL
            ON CONFLICT (version_id) DO UPDATE SET model_id = excluded.model_id, base_model = excluded.base_model;
        END IF;
    END IF;

    IF cardinality(v_pair_models) > 0 THEN
        pd_models := pd_models || v_pair_models;
        pd_bases := pd_bases || v_pair_bases;
        pd_downloads := pd_downloads || array_fill(0::bigint, ARRAY[cardinality(v_pair_models)]);
        pd_images := pd_images || array_fill(0::bigint, ARRAY[cardinality(v_pair_models)]);
        pd_thumbs := pd_thumbs || array_fill(0, ARRAY[cardinality(v_pair_models)]);
        pd_check := pd_check || array_fill(true, ARRAY[cardinality(v_pair_models)]);
    END IF;

    -- 3. Reviews as they are now against the state; each side counts where its version counts now.
    IF cardinality(r_reviews) > 0 THEN
        CREATE TEMP TABLE IF NOT EXISTS inc_review_change (review_id INTEGER, old_version INTEGER, old_user INTEGER,
            new_version INTEGER, new_user INTEGER) ON COMMIT DROP;
        TRUNCATE inc_review_change;
        INSERT INTO inc_review_change
        WITH qualifying AS (
            SELECT r."id", r."modelVersionId", r."userId" FROM "ResourceReview" r
            WHERE r."id" = ANY (r_reviews) AND r."recommended" AND NOT r."exclude" AND NOT r."tosViolation"
        ), applied AS (
            SELECT s.review_id, s.version_id, s.user_id FROM bmm.inc_review s WHERE s.review_id = ANY (r_reviews)
        )
        SELECT coalesce(a.review_id, q."id"), a.version_id, a.user_id, q."modelVersionId", q."userId"
        FROM applied a FULL JOIN qualifying q ON q."id" = a.review_id
        WHERE (a.version_id, a.user_id) IS DISTINCT FROM (q."modelVersionId", q."userId");
        GET DIAGNOSTICS reviews = ROW_COUNT;

        IF reviews > 0 THEN
            SELECT td_models || coalesce(array_agg(x.model_id), '{}'), td_bases || coalesce(array_agg(x.base_model), '{}'),
                   td_users || coalesce(array_agg(x.user_id), '{}'), td_counts || coalesce(array_agg(x.reviews), '{}')
            INTO td_models, td_bases, td_users, td_counts
            FROM (SELECT v.model_id, v.base_model, c.old_user AS user_id, -1 AS reviews
                  FROM inc_review_change c JOIN bmm.inc_version v ON v.version_id = c.old_version
                  UNION ALL
                  SELECT v.model_id, v.base_model, c.new_user, 1
                  FROM inc_review_change c JOIN bmm.inc_version v ON v.version_id = c.new_version) x;

            DELETE FROM bmm.inc_review s USING inc_review_change c WHERE s.review_id = c.review_id AND c.new_version IS NULL;
            INSERT INTO bmm.inc_review (review_id, version_id, user_id)
            SELECT review_id, new_version, new_user FROM inc_review_change WHERE new_version IS NOT NULL
            ON CONFLICT (review_id) DO UPDATE SET version_id = excluded.version_id, user_id = excluded.user_id;
        END IF;
    END IF;

    -- 4. Multiplicities: a user enters a pair's count when theirs rises from zero, leaves it at zero.
    IF cardinality(td_models) > 0 THEN
        WITH delta AS (
            SELECT d.model_id, d.base_model, d.user_id, sum(d.reviews)::int AS reviews
            FROM (SELECT unnest(td_models) AS model_id, unnest(td_bases) AS base_model, unnest(td_users) AS user_id,
                         unnest(td_counts) AS reviews) AS d
            GROUP BY d.model_id, d.base_model, d.user_id HAVING sum(d.reviews) <> 0
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
            SELECT model_id, base_model,
                   sum(CASE WHEN before <= 0 AND after > 0 THEN 1 WHEN before > 0 AND after <= 0 THEN -1 ELSE 0 END)::int AS thumbs
            FROM moved GROUP BY model_id, base_model
        )
        SELECT coalesce(array_agg(model_id), '{}'), coalesce(array_agg(base_model), '{}'), coalesce(array_agg(thumbs), '{}'),
               (SELECT count(*) FROM moved WHERE after < 0)
        INTO a_models, a_bases, a_thumbs, negative
        FROM counted WHERE thumbs <> 0;
        anomalies := anomalies + negative;
        pd_models := pd_models || a_models;
        pd_bases := pd_bases || a_bases;
        pd_downloads := pd_downloads || array_fill(0::bigint, ARRAY[cardinality(a_models)]);
        pd_images := pd_images || array_fill(0::bigint, ARRAY[cardinality(a_models)]);
        pd_thumbs := pd_thumbs || a_thumbs;
        pd_check := pd_check || array_fill(false, ARRAY[cardinality(a_models)]);
    END IF;

    -- 5. Models edited or deleted: every pair the state has for them is written again (and their
    --    other rows removed, as scope of the write).
    IF cardinality(o_models) > 0 THEN
        SELECT pd_models || coalesce(array_agg(x.model_id), '{}'), pd_bases || coalesce(array_agg(x.base_model), '{}'),
               pd_downloads || coalesce(array_agg(0::bigint), '{}'), pd_images || coalesce(array_agg(0::bigint), '{}'),
               pd_thumbs || coalesce(array_agg(0), '{}'), pd_check || coalesce(array_agg(true), '{}')
        INTO pd_models, pd_bases, pd_downloads, pd_images, pd_thumbs, pd_check
        FROM (SELECT DISTINCT v.model_id, v.base_model FROM bmm.inc_version v WHERE v.model_id = ANY (o_models)) x;
    END IF;

    -- 6. Recomputed models: their multiplicities from the state itself.
    IF cardinality(recompute_models) > 0 THEN
        DELETE FROM bmm.inc_thumb WHERE model_id = ANY (recompute_models);
        INSERT INTO bmm.inc_thumb (model_id, base_model, user_id, reviews)
        SELECT v.model_id, v.base_model, r.user_id, count(*)
        FROM bmm.inc_version v JOIN bmm.inc_review r ON r.version_id = v.version_id
        WHERE v.model_id = ANY (recompute_models)
        GROUP BY v.model_id, v.base_model, r.user_id;
    END IF;

    -- 7. The new values of every pair that moved: the visible row's (or the overflow's true sums)
    --    plus the deltas; a pair that may have lost its last version is gone when the state has
    --    none left in it. Recomputed models' pairs are summed from the state instead.
    WITH delta AS (
        SELECT d.model_id, d.base_model, sum(d.downloads)::bigint AS downloads, sum(d.images)::bigint AS images,
               sum(d.thumbs)::int AS thumbs, bool_or(d.checked) AS checked
        FROM (SELECT unnest(pd_models) AS model_id, unnest(pd_bases) AS base_model, unnest(pd_downloads) AS downloads,
                     unnest(pd_images) AS images, unnest(pd_thumbs) AS thumbs, unnest(pd_check) AS checked) AS d
        WHERE d.model_id <> ALL (recompute_models)
        GROUP BY d.model_id, d.base_model
        -- A version moved out and back, or deltas that cancel, move nothing.
        HAVING bool_or(d.checked) OR sum(d.downloads) <> 0 OR sum(d.images) <> 0 OR sum(d.thumbs) <> 0
    ), moved AS (
        SELECT d.model_id, d.base_model,
               d.checked AND still.counts IS NULL AS gone,
               coalesce(o.downloads, t."downloadCount", 0) + d.downloads AS downloads,
               coalesce(o.images, t."imageCount", 0) + d.images AS images,
               coalesce(t."thumbsUpCount", 0) + d.thumbs AS thumbs
        FROM delta d
        -- A probe per pair that may be gone, never a hash of the whole state (which a planner
        -- expecting few pairs chose for a day's backlog: a scan of every version).
        LEFT JOIN LATERAL (SELECT true AS counts FROM bmm.inc_version v
                           WHERE d.checked AND v.model_id = d.model_id AND v.base_model = d.base_model LIMIT 1) still ON true
        LEFT JOIN "ModelBaseModelMetric" t ON t."modelId" = d.model_id AND t."baseModel" = d.base_model
        LEFT JOIN bmm.inc_overflow o ON o.model_id = d.model_id AND o.base_model = d.base_model
    ), recomputed AS (
        SELECT v.model_id, v.base_model, false AS gone, sum(val.downloads)::bigint AS downloads, sum(val.images)::bigint AS images,
               (SELECT count(*) FROM bmm.inc_thumb t WHERE t.model_id = v.model_id AND t.base_model = v.base_model)::int AS thumbs
        FROM bmm.inc_version v
        JOIN bmm.inc_values_at(ARRAY(SELECT s.version_id FROM bmm.inc_version s WHERE s.model_id = ANY (recompute_models)),
                               after_xid, after_kind, after_row) val ON val.version_id = v.version_id
        WHERE v.model_id = ANY (recompute_models)
        GROUP BY v.model_id, v.base_model
    ), all_pairs AS (
        SELECT * FROM moved UNION ALL SELECT * FROM recomputed
    )
    SELECT coalesce(array_agg(model_id), '{}'), coalesce(array_agg(base_model), '{}'), coalesce(array_agg(thumbs), '{}'),
           coalesce(array_agg(downloads), '{}'), coalesce(array_agg(images), '{}'), coalesce(array_agg(gone), '{}'),
           count(*) FILTER (WHERE NOT gone AND thumbs < 0), count(DISTINCT model_id)
    INTO w_models, w_bases, w_thumbs, w_downloads, w_images, w_gone, negative, models
    FROM all_pairs;
    anomalies := anomalies + negative;

    -- 8. True sums the visible table cannot hold are kept aside; the rest need no keeping.
    DELETE FROM bmm.inc_overflow o
    USING (SELECT unnest(w_models) AS model_id, unnest(w_bases) AS base_model, unnest(w_downloads) AS downloads,
                  unnest(w_images) AS images, unnest(w_gone) AS gone) AS w
    WHERE o.model_id = w.model_id AND o.base_model = w.base_model
      AND (w.gone OR (w.downloads BETWEEN 0 AND 2147483647 AND w.images BETWEEN 0 AND 2147483647));
    DELETE FROM bmm.inc_overflow o
    WHERE o.model_id = ANY (recompute_models)
      AND NOT EXISTS (SELECT 1 FROM bmm.inc_version v WHERE v.model_id = o.model_id AND v.base_model = o.base_model);
    INSERT INTO bmm.inc_overflow (model_id, base_model, downloads, images)
    SELECT w.model_id, w.base_model, w.downloads, w.images
    FROM (SELECT unnest(w_models) AS model_id, unnest(w_bases) AS base_model, unnest(w_downloads) AS downloads,
                 unnest(w_images) AS images, unnest(w_gone) AS gone) AS w
    WHERE NOT w.gone AND (w.downloads NOT BETWEEN 0 AND 2147483647 OR w.images NOT BETWEEN 0 AND 2147483647)
    ON CONFLICT (model_id, base_model) DO UPDATE SET downloads = excluded.downloads, images = excluded.images;

    -- 9. The visible rows, through the one write path (a sum below zero shows as zero).
    SELECT w.inserted, w.updated, w.deleted, w.unchanged, w.clamped INTO inserted, updated, deleted, unchanged, clamped
    FROM bmm.write_pairs(
        o_models || recompute_models, w_models, w_bases,
        ARRAY(SELECT CASE WHEN g THEN NULL ELSE greatest(t, 0) END FROM (SELECT unnest(w_thumbs) AS t, unnest(w_gone) AS g) AS x),
        ARRAY(SELECT greatest(d, 0) FROM unnest(w_downloads) AS d),
        ARRAY(SELECT greatest(i, 0) FROM unnest(w_images) AS i)) w;
END;
$$;

-- Applies the next step of the log: the rows past the position (from_*) and below @below_xid
-- (the horizon), up to @row_limit rows (and the rest of the (xid, kind, row_id) group the limit
-- cuts), as the top of this file says. The position must still be at from_*: a window already
-- applied, or applied by another runner meanwhile, is refused before anything is written, so a
-- replay changes nothing. Returns where the step ends (to_*; cut_short when the limit cut it); the
-- caller advances the position there in the same transaction. When more than a step waits, of
-- which at least @rebuild_rows rows the state does not hold yet (0: never), nothing is applied and
-- rebuild says so: the caller rebuilds the state from a snapshot, cheaper than applying a bulk
-- load row by row.
CREATE OR REPLACE FUNCTION bmm.inc_apply(
    from_xid BIGINT, from_kind "char", from_row INTEGER, below_xid BIGINT, row_limit INTEGER, rebuild_rows INTEGER,
    OUT inserted BIGINT, OUT updated BIGINT, OUT deleted BIGINT, OUT unchanged BIGINT, OUT clamped TEXT,
    OUT models BIGINT, OUT anomalies BIGINT, OUT log_rows BIGINT,
    OUT to_xid BIGINT, OUT to_kind "char", OUT to_row INTEGER, OUT cut_short BOOLEAN, OUT rebuild BOOLEAN)
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    here RECORD;
    cut RECORD;
    m_versions INTEGER[]; m_downloads BIGINT[]; m_images BIGINT[];
    v_versions INTEGER[]; v_models INTEGER[]; v_bases TEXT[];
    r_reviews INTEGER[]; o_models INTEGER[];
    -- The bootstrap's snapshot as far as the rows past the position can be in it: null when none
    -- can (nearly always after the first step), which the plan then folds away from every row.
    skip_below BIGINT;
    -- Committed transactions above the horizon, applied with this step, and the snapshot they
    -- were read in.
    ahead RECORD;
BEGIN
    inserted := 0; updated := 0; deleted := 0; unchanged := 0; clamped := '[]';
    models := 0; anomalies := 0; log_rows := 0;
    cut_short := false; rebuild := false;
    to_xid := from_xid; to_kind := from_kind; to_row := from_row;
    -- Nothing waiting: nothing is locked or written (a quiet pass leaves no trace).
    IF NOT EXISTS (SELECT 1 FROM bmm.change_log c
                   WHERE (c.xid, c.kind, c.row_id) > (from_xid, from_kind, from_row) AND c.xid < below_xid)
       AND NOT EXISTS (SELECT 1 FROM bmm.consumer k, bmm.inc_ahead(below_xid, k.skip_below, k.skip_except) a
                       WHERE k.name = 'incremental') THEN
        RETURN;
    END IF;
    SELECT c.xid, c.kind, c.row_id, c.skip_below, c.skip_except INTO here
    FROM bmm.consumer c WHERE c.name = 'incremental' FOR UPDATE;
    IF NOT FOUND OR (here.xid, here.kind, here.row_id) <> (from_xid, from_kind, from_row) THEN
        RAISE EXCEPTION 'the incremental position is not where this step began: its changes are already applied'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- A position at the end of a transaction ('~') has only later transactions past it.
    skip_below := CASE WHEN here.skip_below > from_xid + CASE WHEN (from_kind, from_row) = ('~', 2147483647) THEN 1 ELSE 0 END
                       THEN here.skip_below END;
    -- More review, version and model rows waiting than a step holds and than @rebuild_rows (a
    -- bulk load) say at once what the step's read below would find after reading a whole step of
    -- them (9.8 s of a bulk drain's 101 s): counted in their own index, no further than that.
    IF rebuild_rows > 0 AND greatest(rebuild_rows, row_limit::bigint + 1) <= (
            SELECT count(*) FROM (SELECT 1 FROM bmm.change_log c
                                  WHERE (c.xid, c.kind, c.row_id) > (from_xid, from_kind, from_row) AND c.xid < below_xid AND c.kind <> 'm'
                                    AND NOT bmm.inc_in_bootstrap(c.xid, skip_below, here.skip_except)
                                  LIMIT greatest(rebuild_rows, row_limit::bigint + 1)) r) THEN
        rebuild := true;
        RETURN;
    END IF;

    -- One scan of the step, grouped by the row that changed (sums and counts only, so that a
    -- day's backlog aggregates fast). Everything below the horizon is read in no particular order
    -- (a backlog's rows need no sort), as long as it is within the limit; past it, the step is
    -- cut at the limit's row, found in the index alone.
    LOOP
        WITH step AS MATERIALIZED (
            SELECT l.kind, l.row_id,
                   sum(CASE WHEN NOT bmm.inc_in_bootstrap(l.xid, skip_below, here.skip_except) THEN l.downloads END)::bigint AS downloads,
                   sum(CASE WHEN NOT bmm.inc_in_bootstrap(l.xid, skip_below, here.skip_except) THEN l.images END)::bigint AS images,
                   count(*) AS rows
            FROM (SELECT c.xid, c.kind, c.row_id, c.downloads, c.images FROM bmm.change_log c
                  WHERE (c.xid, c.kind, c.row_id) > (from_xid, from_kind, from_row) AND c.xid < below_xid
                    AND (NOT cut_short OR (c.xid, c.kind, c.row_id) <= (to_xid, to_kind, to_row))
                  LIMIT CASE WHEN cut_short THEN NULL ELSE row_limit::bigint + 1 END) l
            GROUP BY l.kind, l.row_id
        )
        SELECT coalesce(array_agg(row_id) FILTER (WHERE kind = 'm' AND (downloads <> 0 OR images <> 0)), '{}'),
               coalesce(array_agg(downloads) FILTER (WHERE kind = 'm' AND (downloads <> 0 OR images <> 0)), '{}'),
               coalesce(array_agg(images) FILTER (WHERE kind = 'm' AND (downloads <> 0 OR images <> 0)), '{}'),
               coalesce(array_agg(row_id) FILTER (WHERE kind = 'v'), '{}'),
               coalesce(array_agg(row_id) FILTER (WHERE kind = 'r'), '{}'),
               coalesce(array_agg(row_id) FILTER (WHERE kind = 'o'), '{}'),
               coalesce(sum(rows), 0)
        INTO m_versions, m_downloads, m_images, v_versions, r_reviews, o_models, log_rows
        FROM step;
        EXIT WHEN cut_short OR log_rows <= row_limit;
        -- More than a step waits: are at least @rebuild_rows of it changes the state does not hold
        -- yet? The rows of transactions the last bootstrap's snapshot held are in it already (a
        -- snapshot held back by a long transaction anywhere in the cluster leaves them past the
        -- position): counting them would rebuild again and again.
        IF rebuild_rows > 0 AND rebuild_rows <= (
                SELECT count(*) FROM (SELECT 1 FROM bmm.change_log c
                                      WHERE (c.xid, c.kind, c.row_id) > (from_xid, from_kind, from_row) AND c.xid < below_xid
                                        AND NOT bmm.inc_in_bootstrap(c.xid, skip_below, here.skip_except)
                                      LIMIT rebuild_rows) r) THEN
            rebuild := true;
            log_rows := 0;
            RETURN;
        END IF;
        SELECT c.xid, c.kind, c.row_id INTO cut FROM bmm.change_log c
        WHERE (c.xid, c.kind, c.row_id) > (from_xid, from_kind, from_row) AND c.xid < below_xid
        ORDER BY c.xid, c.kind, c.row_id
        OFFSET row_limit - 1 LIMIT 1;
        to_xid := cut.xid; to_kind := cut.kind; to_row := cut.row_id;
        cut_short := true;
    END LOOP;
    IF NOT cut_short THEN
        -- Everything below the horizon is applied: the position may move to it (never back).
        IF (below_xid - 1, '~'::"char", 2147483647) > (from_xid, from_kind, from_row) THEN
            to_xid := below_xid - 1; to_kind := '~'; to_row := 2147483647;
        ELSE
            to_xid := from_xid; to_kind := from_kind; to_row := from_row;
        END IF;
    END IF;

    -- The pairs the step's version rows name, from the few rows that are not metric deltas.
    IF cardinality(v_versions) > 0 THEN
        SELECT coalesce(array_agg(n.model_id), '{}'), coalesce(array_agg(n.base_model), '{}') INTO v_models, v_bases
        FROM bmm.change_log c CROSS JOIN LATERAL bmm.inc_version_pairs(c) n
        WHERE c.kind = 'v' AND (c.xid, c.kind, c.row_id) > (from_xid, from_kind, from_row) AND c.xid < below_xid
          AND (c.xid, c.kind, c.row_id) <= (to_xid, to_kind, to_row);
    ELSE
        v_models := '{}'; v_bases := '{}';
    END IF;

    -- A step that reached the horizon also applies the transactions that committed above it (a
    -- transaction still running below them holds the horizon, and with it every later commit,
    -- for as long as it runs): whole transactions, read in one snapshot, when they fit in what is
    -- left of the step. The state then holds everything that snapshot saw, which the consumer
    -- remembers as the bootstrap's is remembered: below the snapshot's xmax and not running in it.
    -- When the horizon passes these transactions, their deltas are not applied again; their
    -- other rows are re-derived from current rows again, which changes nothing. Deltas commute
    -- and the other rows are re-derived, so applying them before older transactions is exact
    -- (the top of this file). The snapshot contains the one remembered before (snapshots only
    -- grow), so remembering it forgets nothing.
    IF NOT cut_short THEN
        WITH waiting AS MATERIALIZED (
            SELECT a.* FROM bmm.inc_ahead(below_xid, here.skip_below, here.skip_except) a
            LIMIT row_limit::bigint - log_rows + 1
        ), changed AS (
            SELECT w.kind, w.row_id, sum(w.downloads)::bigint AS downloads, sum(w.images)::bigint AS images
            FROM waiting w GROUP BY w.kind, w.row_id
        ), pairs AS MATERIALIZED (
            SELECT coalesce(array_agg(n.model_id), '{}') AS pair_models, coalesce(array_agg(n.base_model), '{}') AS pair_bases
            FROM waiting w CROSS JOIN LATERAL bmm.inc_version_pairs(w::bmm.change_log) n
            WHERE w.kind = 'v'
        )
        SELECT (SELECT count(*) FROM waiting) AS rows, pg_current_snapshot() AS snapshot,
               coalesce(array_agg(row_id) FILTER (WHERE kind = 'm' AND (downloads <> 0 OR images <> 0)), '{}') AS m_versions,
               coalesce(array_agg(downloads) FILTER (WHERE kind = 'm' AND (downloads <> 0 OR images <> 0)), '{}') AS m_downloads,
               coalesce(array_agg(images) FILTER (WHERE kind = 'm' AND (downloads <> 0 OR images <> 0)), '{}') AS m_images,
               coalesce(array_agg(row_id) FILTER (WHERE kind = 'v'), '{}') AS v_versions,
               coalesce(array_agg(row_id) FILTER (WHERE kind = 'r'), '{}') AS r_reviews,
               coalesce(array_agg(row_id) FILTER (WHERE kind = 'o'), '{}') AS o_models,
               (SELECT p.pair_models FROM pairs p) AS v_models, (SELECT p.pair_bases FROM pairs p) AS v_bases
        INTO ahead FROM changed;
        IF ahead.rows > 0 AND log_rows + ahead.rows <= row_limit THEN
            m_versions := m_versions || ahead.m_versions; m_downloads := m_downloads || ahead.m_downloads;
            m_images := m_images || ahead.m_images; v_versions := v_versions || ahead.v_versions;
            v_models := v_models || ahead.v_models; v_bases := v_bases || ahead.v_bases;
            r_reviews := r_reviews || ahead.r_reviews; o_models := o_models || ahead.o_models;
            log_rows := log_rows + ahead.rows;
            -- Before the apply: the placements' values as of the step's end leave out what the state now holds.
            UPDATE bmm.consumer SET skip_below = pg_snapshot_xmax(ahead.snapshot)::text::bigint,
                                    skip_except = ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(ahead.snapshot) AS x)
            WHERE name = 'incremental';
        END IF;
    END IF;
    IF log_rows = 0 THEN RETURN; END IF;

    -- The models a version row names are written whole, as edited models are: the site's publish
    -- trigger inserts a pair's row with the model's columns as its writer saw them, and a model
    -- edit committing between that insert and its commit cannot see the row to update it. Read
    -- here, once both have committed, the model's columns are current.
    SELECT a.inserted, a.updated, a.deleted, a.unchanged, a.clamped, a.models, a.anomalies
    INTO inserted, updated, deleted, unchanged, clamped, models, anomalies
    FROM bmm.inc_apply_changes(to_xid, to_kind, to_row, m_versions, m_downloads, m_images,
        v_versions, v_models, v_bases, r_reviews, ARRAY(SELECT DISTINCT x FROM unnest(o_models || v_models) AS x), '{}') a;
END;
$$;

-- Re-derives everything about @repair_models from the site's tables as of the consumer's
-- position: their versions' placements and every review on them, through the apply (so that
-- other pairs move as they should), then their multiplicities and pairs recomputed from the
-- state, then their visible rows. For drift found by reconciliation or verify, and for models
-- given to `bmm enqueue`.
CREATE OR REPLACE FUNCTION bmm.inc_repair(repair_models INTEGER[],
    OUT inserted BIGINT, OUT updated BIGINT, OUT deleted BIGINT, OUT unchanged BIGINT, OUT clamped TEXT)
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    here RECORD;
    versions INTEGER[];
    review_ids INTEGER[];
BEGIN
    SELECT c.xid, c.kind, c.row_id INTO here FROM bmm.consumer c WHERE c.name = 'incremental' FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the incremental state is not built' USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    versions := ARRAY(
        SELECT v."id" FROM "ModelVersion" v WHERE v."modelId" = ANY (repair_models)
        UNION SELECT s.version_id FROM bmm.inc_version s WHERE s.model_id = ANY (repair_models));
    review_ids := ARRAY(
        SELECT r."id" FROM "ResourceReview" r WHERE r."modelVersionId" = ANY (versions)
        UNION SELECT s.review_id FROM bmm.inc_review s WHERE s.version_id = ANY (versions));
    SELECT a.inserted, a.updated, a.deleted, a.unchanged, a.clamped INTO inserted, updated, deleted, unchanged, clamped
    FROM bmm.inc_apply_changes(here.xid, here.kind, here.row_id, '{}', '{}', '{}', versions, '{}', '{}',
        review_ids, '{}', repair_models) a;
END;
$$;

-- The bootstrap's first part, in one REPEATABLE READ transaction: the state as of its snapshot,
-- the snapshot itself, and every pair's values, staged for the visible table. Only reads the
-- site's tables, so writers are never blocked.
CREATE OR REPLACE FUNCTION bmm.inc_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE bmm.inc_version, bmm.inc_review, bmm.inc_thumb, bmm.inc_overflow, bmm.inc_bootstrap, bmm.inc_bootstrap_pair;
    INSERT INTO bmm.inc_bootstrap (snapshot_xmin, snapshot_xmax, snapshot_xip)
    SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint,
           ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) AS x)
    FROM pg_current_snapshot() AS s;
    INSERT INTO bmm.inc_version (version_id, model_id, base_model)
    SELECT v."id", v."modelId", v."baseModel" FROM "ModelVersion" v WHERE v."status" = 'Published';
    INSERT INTO bmm.inc_review (review_id, version_id, user_id)
    SELECT r."id", r."modelVersionId", r."userId" FROM "ResourceReview" r
    WHERE r."recommended" AND NOT r."exclude" AND NOT r."tosViolation";
    -- Inserted in key order, as the staged pairs below are: each row then lands at the right edge of the
    -- primary key, not on a random page of it (the site's 4.3 million multiplicities: 27 s
    -- in arrival order, 11-14 s sorted).
    INSERT INTO bmm.inc_thumb (model_id, base_model, user_id, reviews)
    SELECT v.model_id, v.base_model, r.user_id, count(*)
    FROM bmm.inc_review r JOIN bmm.inc_version v ON v.version_id = r.version_id
    GROUP BY v.model_id, v.base_model, r.user_id
    ORDER BY v.model_id, v.base_model, r.user_id;
    INSERT INTO bmm.inc_bootstrap_pair (model_id, base_model, thumbs, downloads, images)
    SELECT s.model_id, s.base_model, coalesce(t.thumbs, 0), s.downloads, s.images
    FROM (SELECT v.model_id, v.base_model, sum(coalesce(m."downloadCount", 0))::bigint AS downloads,
                 sum(coalesce(m."imageCount", 0))::bigint AS images
          FROM bmm.inc_version v LEFT JOIN "ModelVersionMetric" m ON m."modelVersionId" = v.version_id
          GROUP BY v.model_id, v.base_model) s
    LEFT JOIN (SELECT model_id, base_model, count(*)::int AS thumbs FROM bmm.inc_thumb GROUP BY model_id, base_model) t
        ON t.model_id = s.model_id AND t.base_model = s.base_model
    ORDER BY s.model_id, s.base_model;
    INSERT INTO bmm.inc_overflow (model_id, base_model, downloads, images)
    SELECT model_id, base_model, downloads, images FROM bmm.inc_bootstrap_pair
    WHERE downloads NOT BETWEEN 0 AND 2147483647 OR images NOT BETWEEN 0 AND 2147483647;
    PERFORM bmm.analyze_incremental_state();
END;
$$;

-- The bootstrap's second part, one call per transaction: the staged pairs of the next
-- @batch_models models after @after (models with a staged pair or a visible row, in order) made
-- visible through the write path. Returns the last model written (null when none was left) and
-- how many models it wrote.
CREATE OR REPLACE FUNCTION bmm.inc_bootstrap_write(after INTEGER, batch_models INTEGER,
    OUT last_model INTEGER, OUT model_count INTEGER, OUT inserted BIGINT, OUT updated BIGINT, OUT deleted BIGINT, OUT unchanged BIGINT, OUT clamped TEXT)
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    models INTEGER[];
BEGIN
    models := ARRAY(
        SELECT DISTINCT k.model_id FROM (
            (SELECT DISTINCT p.model_id FROM bmm.inc_bootstrap_pair p WHERE p.model_id > after ORDER BY p.model_id LIMIT batch_models)
            UNION ALL
            (SELECT DISTINCT t."modelId" FROM "ModelBaseModelMetric" t WHERE t."modelId" > after ORDER BY t."modelId" LIMIT batch_models)
        ) k ORDER BY k.model_id LIMIT batch_models);
    last_model := models[cardinality(models)];
    model_count := cardinality(models);
    IF last_model IS NULL THEN RETURN; END IF;
    SELECT w.inserted, w.updated, w.deleted, w.unchanged, w.clamped INTO inserted, updated, deleted, unchanged, clamped
    FROM (SELECT coalesce(array_agg(p.model_id), '{}') AS m, coalesce(array_agg(p.base_model), '{}') AS b,
                 coalesce(array_agg(p.thumbs), '{}') AS t, coalesce(array_agg(greatest(p.downloads, 0)), '{}') AS d,
                 coalesce(array_agg(greatest(p.images, 0)), '{}') AS i
          FROM bmm.inc_bootstrap_pair p WHERE p.model_id = ANY (models)) g,
         bmm.write_pairs(models, g.m, g.b, g.t, g.d, g.i) w;
END;
$$;

-- The bootstrap's last step: the consumer's position at the snapshot's xmin, with the snapshot
-- kept so that a metric delta it already holds is not applied again; the staging emptied.
CREATE OR REPLACE FUNCTION bmm.inc_bootstrap_finish() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bmm.consumer (name, xid, kind, row_id, skip_below, skip_except)
    SELECT 'incremental', b.snapshot_xmin - 1, '~', 2147483647, b.snapshot_xmax, b.snapshot_xip FROM bmm.inc_bootstrap b
    ON CONFLICT (name) DO UPDATE SET xid = excluded.xid, kind = excluded.kind, row_id = excluded.row_id,
        sweep_end = NULL, sweep_model = NULL, skip_below = excluded.skip_below, skip_except = excluded.skip_except, updated_at = now();
    TRUNCATE bmm.inc_bootstrap, bmm.inc_bootstrap_pair;
END;
$$;
