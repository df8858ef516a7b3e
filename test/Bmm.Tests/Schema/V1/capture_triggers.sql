-- Capture triggers: statement-level, with transition tables, writing one change-log row per
-- affected model in the writing transaction. Re-applied on every `migrate` (idempotent);
-- `migrate --remove-capture` drops the triggers again.
-- Conservative on purpose: a change is captured from the row's own old and new values only,
-- never from the state of another table, which a concurrent transaction may be changing.
-- A version-metric change cannot move a thumbs-up count, so it is logged with recount = false:
-- the job then recomputes that model's sums but keeps its distinct-user counts.
-- A review change is logged once per review (review_id), so that the incremental strategy
-- re-derives only that review. A capture that logged a row also notifies bmm_change_log, which
-- wakes `bmm follow` at commit (PostgreSQL folds one transaction's notifications into one and
-- delivers none on rollback).

CREATE OR REPLACE FUNCTION bmm.capture_version_metric() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    logged BIGINT;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO bmm.change_log (xid, model_id, recount)
        SELECT DISTINCT pg_current_xact_id()::text::bigint, v."modelId", false
        FROM new_rows n JOIN "ModelVersion" v ON v."id" = n."modelVersionId"
        WHERE n."downloadCount" <> 0 OR n."imageCount" <> 0;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO bmm.change_log (xid, model_id, recount)
        SELECT DISTINCT pg_current_xact_id()::text::bigint, v."modelId", false
        FROM old_rows o JOIN "ModelVersion" v ON v."id" = o."modelVersionId"
        WHERE o."downloadCount" <> 0 OR o."imageCount" <> 0;
    ELSE
        INSERT INTO bmm.change_log (xid, model_id, recount)
        SELECT DISTINCT pg_current_xact_id()::text::bigint, v."modelId", false
        FROM ((SELECT "modelVersionId", "downloadCount", "imageCount" FROM new_rows
               EXCEPT ALL SELECT "modelVersionId", "downloadCount", "imageCount" FROM old_rows)
              UNION ALL
              (SELECT "modelVersionId", "downloadCount", "imageCount" FROM old_rows
               EXCEPT ALL SELECT "modelVersionId", "downloadCount", "imageCount" FROM new_rows)) c
        JOIN "ModelVersion" v ON v."id" = c."modelVersionId";
    END IF;
    GET DIAGNOSTICS logged = ROW_COUNT;
    IF logged > 0 THEN PERFORM pg_notify('bmm_change_log', ''); END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION bmm.capture_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    logged BIGINT;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO bmm.change_log (xid, model_id)
        SELECT DISTINCT pg_current_xact_id()::text::bigint, n."modelId"
        FROM new_rows n WHERE n."status" = 'Published';
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO bmm.change_log (xid, model_id)
        SELECT DISTINCT pg_current_xact_id()::text::bigint, o."modelId"
        FROM old_rows o WHERE o."status" = 'Published';
    ELSE
        INSERT INTO bmm.change_log (xid, model_id)
        SELECT DISTINCT pg_current_xact_id()::text::bigint, c."modelId"
        FROM ((SELECT "id", "modelId", "baseModel", "status" FROM new_rows
               EXCEPT ALL SELECT "id", "modelId", "baseModel", "status" FROM old_rows)
              UNION ALL
              (SELECT "id", "modelId", "baseModel", "status" FROM old_rows
               EXCEPT ALL SELECT "id", "modelId", "baseModel", "status" FROM new_rows)) c
        -- Each changed row appears with its old and its new values: a version leaving
        -- Published is caught by its old row, one entering it by its new row.
        WHERE c."status" = 'Published';
    END IF;
    GET DIAGNOSTICS logged = ROW_COUNT;
    IF logged > 0 THEN PERFORM pg_notify('bmm_change_log', ''); END IF;
    RETURN NULL;
END;
$$;

-- The model that owns a review is taken from the review's version where it still exists
-- (a version deleted in the same statement is captured by the version trigger), else from
-- the review's own modelId.
CREATE OR REPLACE FUNCTION bmm.capture_review() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    logged BIGINT;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO bmm.change_log (xid, model_id, review_id)
        SELECT DISTINCT pg_current_xact_id()::text::bigint, COALESCE(v."modelId", n."modelId"), n."id"
        FROM new_rows n LEFT JOIN "ModelVersion" v ON v."id" = n."modelVersionId"
        WHERE n."recommended" AND NOT n."exclude" AND NOT n."tosViolation";
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO bmm.change_log (xid, model_id, review_id)
        SELECT DISTINCT pg_current_xact_id()::text::bigint, COALESCE(v."modelId", o."modelId"), o."id"
        FROM old_rows o LEFT JOIN "ModelVersion" v ON v."id" = o."modelVersionId"
        WHERE o."recommended" AND NOT o."exclude" AND NOT o."tosViolation";
    ELSE
        INSERT INTO bmm.change_log (xid, model_id, review_id)
        SELECT DISTINCT pg_current_xact_id()::text::bigint, COALESCE(v."modelId", c."modelId"), c."id"
        FROM ((SELECT "id", "modelId", "modelVersionId", "userId", "recommended", "exclude", "tosViolation" FROM new_rows
               EXCEPT ALL SELECT "id", "modelId", "modelVersionId", "userId", "recommended", "exclude", "tosViolation" FROM old_rows)
              UNION ALL
              (SELECT "id", "modelId", "modelVersionId", "userId", "recommended", "exclude", "tosViolation" FROM old_rows
               EXCEPT ALL SELECT "id", "modelId", "modelVersionId", "userId", "recommended", "exclude", "tosViolation" FROM new_rows)) c
        LEFT JOIN "ModelVersion" v ON v."id" = c."modelVersionId";
    END IF;
    GET DIAGNOSTICS logged = ROW_COUNT;
    IF logged > 0 THEN PERFORM pg_notify('bmm_change_log', ''); END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION bmm.capture_model() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    logged BIGINT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO bmm.change_log (xid, model_id)
        SELECT DISTINCT pg_current_xact_id()::text::bigint, o."id" FROM old_rows o;
    ELSE
        INSERT INTO bmm.change_log (xid, model_id)
        SELECT DISTINCT pg_current_xact_id()::text::bigint, c."id"
        FROM ((SELECT "id", "status", "availability", "nsfwLevel", "mode", "poi", "minor" FROM new_rows
               EXCEPT ALL SELECT "id", "status", "availability", "nsfwLevel", "mode", "poi", "minor" FROM old_rows)
              UNION ALL
              (SELECT "id", "status", "availability", "nsfwLevel", "mode", "poi", "minor" FROM old_rows
               EXCEPT ALL SELECT "id", "status", "availability", "nsfwLevel", "mode", "poi", "minor" FROM new_rows)) c;
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
