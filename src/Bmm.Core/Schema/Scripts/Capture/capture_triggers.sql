-- Capture triggers: statement-level, with transition tables, writing in the writing transaction
-- one change-log row per changed row that can move a number, keyed by that row. Re-applied on
-- every `migrate` (idempotent); `migrate --remove-capture` drops the triggers again.
-- A capture reads nothing but the transition tables of the rows being written: no other table,
-- whose state in the writer's snapshot a concurrent transaction may be changing.
--   'm' a version metric: the version and its new minus old downloads and images;
--   'v' a version that is or was Published: its model, base model and status, old and new;
--   'r' a review that qualifies or qualified: the review and its version, old and new;
--   'o' a model deleted, or edited in one of the six columns the table copies.
-- A capture that logged a row also notifies bmm_change_log, which wakes `bmm follow` at commit
-- (PostgreSQL folds one transaction's notifications into one and delivers none on rollback).

CREATE OR REPLACE FUNCTION bmm.capture_version_metric() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    x      BIGINT := pg_current_xact_id()::text::bigint;
    logged BIGINT;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO bmm.change_log (xid, kind, row_id, downloads, images)
        SELECT x, 'm', n."modelVersionId", n."downloadCount", n."imageCount"
        FROM new_rows n WHERE n."downloadCount" <> 0 OR n."imageCount" <> 0;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO bmm.change_log (xid, kind, row_id, downloads, images)
        SELECT x, 'm', o."modelVersionId", -o."downloadCount"::bigint, -o."imageCount"::bigint
        FROM old_rows o WHERE o."downloadCount" <> 0 OR o."imageCount" <> 0;
    ELSE
        -- Joined on the key, so that an update of the key itself is the old row's removal and
        -- the new row's arrival.
        INSERT INTO bmm.change_log (xid, kind, row_id, downloads, images)
        SELECT x, 'm', coalesce(n."modelVersionId", o."modelVersionId"),
               coalesce(n."downloadCount", 0)::bigint - coalesce(o."downloadCount", 0),
               coalesce(n."imageCount", 0)::bigint - coalesce(o."imageCount", 0)
        FROM new_rows n FULL JOIN old_rows o ON o."modelVersionId" = n."modelVersionId"
        WHERE (coalesce(n."downloadCount", 0), coalesce(n."imageCount", 0)) <> (coalesce(o."downloadCount", 0), coalesce(o."imageCount", 0));
    END IF;
    GET DIAGNOSTICS logged = ROW_COUNT;
    IF logged > 0 THEN PERFORM pg_notify('bmm_change_log', ''); END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION bmm.capture_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    x      BIGINT := pg_current_xact_id()::text::bigint;
    logged BIGINT;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO bmm.change_log (xid, kind, row_id, new_model, new_base, new_status)
        SELECT x, 'v', n."id", n."modelId", n."baseModel", n."status"::text
        FROM new_rows n WHERE n."status" = 'Published';
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO bmm.change_log (xid, kind, row_id, old_model, old_base, old_status)
        SELECT x, 'v', o."id", o."modelId", o."baseModel", o."status"::text
        FROM old_rows o WHERE o."status" = 'Published';
    ELSE
        INSERT INTO bmm.change_log (xid, kind, row_id, old_model, new_model, old_base, new_base, old_status, new_status)
        SELECT x, 'v', coalesce(n."id", o."id"), o."modelId", n."modelId", o."baseModel", n."baseModel", o."status"::text, n."status"::text
        FROM new_rows n FULL JOIN old_rows o ON o."id" = n."id"
        WHERE (o."status" = 'Published' OR n."status" = 'Published')
          AND (o."modelId", o."baseModel", o."status") IS DISTINCT FROM (n."modelId", n."baseModel", n."status");
    END IF;
    GET DIAGNOSTICS logged = ROW_COUNT;
    IF logged > 0 THEN PERFORM pg_notify('bmm_change_log', ''); END IF;
    RETURN NULL;
END;
$$;

-- A review counts when it is recommended, not excluded and not a TOS violation; what counts is
-- its version and its user. A change is logged when that moved (a rating edit is not).
CREATE OR REPLACE FUNCTION bmm.capture_review() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    x      BIGINT := pg_current_xact_id()::text::bigint;
    logged BIGINT;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO bmm.change_log (xid, kind, row_id, new_version)
        SELECT x, 'r', n."id", n."modelVersionId"
        FROM new_rows n WHERE n."recommended" AND NOT n."exclude" AND NOT n."tosViolation";
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO bmm.change_log (xid, kind, row_id, old_version)
        SELECT x, 'r', o."id", o."modelVersionId"
        FROM old_rows o WHERE o."recommended" AND NOT o."exclude" AND NOT o."tosViolation";
    ELSE
        INSERT INTO bmm.change_log (xid, kind, row_id, old_version, new_version)
        SELECT x, 'r', coalesce(n_id, o_id), o_version, n_version
        FROM (
            SELECT n."id" AS n_id, o."id" AS o_id,
                   CASE WHEN o."recommended" AND NOT o."exclude" AND NOT o."tosViolation" THEN o."modelVersionId" END AS o_version,
                   CASE WHEN o."recommended" AND NOT o."exclude" AND NOT o."tosViolation" THEN o."userId" END AS o_user,
                   CASE WHEN n."recommended" AND NOT n."exclude" AND NOT n."tosViolation" THEN n."modelVersionId" END AS n_version,
                   CASE WHEN n."recommended" AND NOT n."exclude" AND NOT n."tosViolation" THEN n."userId" END AS n_user
            FROM new_rows n FULL JOIN old_rows o ON o."id" = n."id"
        ) c
        WHERE (o_version, o_user) IS DISTINCT FROM (n_version, n_user);
    END IF;
    GET DIAGNOSTICS logged = ROW_COUNT;
    IF logged > 0 THEN PERFORM pg_notify('bmm_change_log', ''); END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION bmm.capture_model() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    x      BIGINT := pg_current_xact_id()::text::bigint;
    logged BIGINT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO bmm.change_log (xid, kind, row_id) SELECT x, 'o', o."id" FROM old_rows o;
    ELSE
        INSERT INTO bmm.change_log (xid, kind, row_id)
        SELECT x, 'o', coalesce(n."id", o."id")
        FROM new_rows n FULL JOIN old_rows o ON o."id" = n."id"
        WHERE (o."status", o."availability", o."nsfwLevel", o."mode", o."poi", o."minor")
              IS DISTINCT FROM (n."status", n."availability", n."nsfwLevel", n."mode", n."poi", n."minor");
    END IF;
    GET DIAGNOSTICS logged = ROW_COUNT;
    IF logged > 0 THEN PERFORM pg_notify('bmm_change_log', ''); END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER bmm_capture_version_metric_insert AFTER INSERT ON "ModelVersionMetric"
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bmm.capture_version_metric();
CREATE OR REPLACE TRIGGER bmm_capture_version_metric_update AFTER UPDATE ON "ModelVersionMetric"
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bmm.capture_version_metric();
CREATE OR REPLACE TRIGGER bmm_capture_version_metric_delete AFTER DELETE ON "ModelVersionMetric"
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION bmm.capture_version_metric();

CREATE OR REPLACE TRIGGER bmm_capture_version_insert AFTER INSERT ON "ModelVersion"
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bmm.capture_version();
CREATE OR REPLACE TRIGGER bmm_capture_version_update AFTER UPDATE ON "ModelVersion"
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bmm.capture_version();
CREATE OR REPLACE TRIGGER bmm_capture_version_delete AFTER DELETE ON "ModelVersion"
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION bmm.capture_version();

CREATE OR REPLACE TRIGGER bmm_capture_review_insert AFTER INSERT ON "ResourceReview"
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bmm.capture_review();
CREATE OR REPLACE TRIGGER bmm_capture_review_update AFTER UPDATE ON "ResourceReview"
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bmm.capture_review();
CREATE OR REPLACE TRIGGER bmm_capture_review_delete AFTER DELETE ON "ResourceReview"
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION bmm.capture_review();

CREATE OR REPLACE TRIGGER bmm_capture_model_update AFTER UPDATE ON "Model"
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bmm.capture_model();
CREATE OR REPLACE TRIGGER bmm_capture_model_delete AFTER DELETE ON "Model"
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION bmm.capture_model();

-- The default strategy's position starts where capture does: every change from here on is read.
-- Its transaction id is below every transaction still running, whose changes are read too.
INSERT INTO bmm.consumer (name, xid, kind, row_id)
VALUES ('setbased', pg_snapshot_xmin(pg_current_snapshot())::text::bigint - 1, '~', 2147483647)
ON CONFLICT (name) DO NOTHING;
