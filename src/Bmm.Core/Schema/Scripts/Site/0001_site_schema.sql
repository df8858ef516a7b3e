-- The site's own tables, enums, triggers and covering indexes, as documented in
-- shared/spec/reference-system.md. Only `migrate --with-site-schema` applies this file;
-- on a real site database these objects already exist and are never touched.
-- Constraint and index names follow Prisma's conventions where the reference names none.

CREATE TYPE "ModelStatus" AS ENUM ('Draft', 'Training', 'Published', 'Scheduled', 'Unpublished',
    'UnpublishedViolation', 'GatherInterest', 'Deleted');
CREATE TYPE "Availability" AS ENUM ('Public', 'Unsearchable', 'Private', 'EarlyAccess');
CREATE TYPE "ModelModifier" AS ENUM ('Archived', 'TakenDown');

CREATE TABLE "Model" (
    "id"            INTEGER NOT NULL,
    "name"          TEXT NOT NULL,
    "userId"        INTEGER NOT NULL,
    "type"          TEXT NOT NULL DEFAULT 'Checkpoint',
    "status"        "ModelStatus" NOT NULL DEFAULT 'Draft',
    "availability"  "Availability" NOT NULL DEFAULT 'Public',
    "mode"          "ModelModifier",
    "nsfwLevel"     INTEGER NOT NULL DEFAULT 0,
    "poi"           BOOLEAN NOT NULL DEFAULT false,
    "minor"         BOOLEAN NOT NULL DEFAULT false,
    "lastVersionAt" TIMESTAMP(3),
    "updatedAt"     TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Model_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "ModelVersion" (
    "id"            INTEGER NOT NULL,
    "modelId"       INTEGER NOT NULL,
    "name"          TEXT NOT NULL,
    "baseModel"     TEXT NOT NULL,
    "baseModelType" TEXT DEFAULT 'Standard',
    "status"        "ModelStatus" NOT NULL DEFAULT 'Draft',
    "availability"  "Availability" NOT NULL DEFAULT 'Public',
    "nsfwLevel"     INTEGER NOT NULL DEFAULT 0,
    "publishedAt"   TIMESTAMP(3),
    "createdAt"     TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"     TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "ModelVersion_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "ModelVersion_modelId_fkey" FOREIGN KEY ("modelId") REFERENCES "Model"("id")
        ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX "ModelVersion_modelId_idx" ON "ModelVersion" USING HASH ("modelId");

CREATE TABLE "ModelVersionMetric" (
    "modelVersionId"    INTEGER NOT NULL,
    "downloadCount"     INTEGER NOT NULL DEFAULT 0,
    "imageCount"        INTEGER NOT NULL DEFAULT 0,
    "thumbsUpCount"     INTEGER NOT NULL DEFAULT 0,
    "thumbsDownCount"   INTEGER NOT NULL DEFAULT 0,
    "commentCount"      INTEGER NOT NULL DEFAULT 0,
    "collectedCount"    INTEGER NOT NULL DEFAULT 0,
    "tippedCount"       INTEGER NOT NULL DEFAULT 0,
    "tippedAmountCount" INTEGER NOT NULL DEFAULT 0,
    "generationCount"   INTEGER NOT NULL DEFAULT 0,
    "earnedAmount"      INTEGER NOT NULL DEFAULT 0,
    "updatedAt"         TIMESTAMP(3) NOT NULL DEFAULT now(),
    CONSTRAINT "ModelVersionMetric_pkey" PRIMARY KEY ("modelVersionId"),
    CONSTRAINT "ModelVersionMetric_modelVersionId_fkey" FOREIGN KEY ("modelVersionId")
        REFERENCES "ModelVersion"("id") ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE "ResourceReview" (
    "id"             INTEGER NOT NULL,
    "modelId"        INTEGER NOT NULL,
    "modelVersionId" INTEGER NOT NULL,
    "userId"         INTEGER NOT NULL,
    "rating"         INTEGER NOT NULL,
    "recommended"    BOOLEAN NOT NULL DEFAULT true,
    "exclude"        BOOLEAN NOT NULL DEFAULT false,
    "tosViolation"   BOOLEAN NOT NULL DEFAULT false,
    "nsfw"           BOOLEAN NOT NULL DEFAULT false,
    "details"        TEXT,
    "createdAt"      TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"      TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "ResourceReview_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "ResourceReview_modelVersionId_fkey" FOREIGN KEY ("modelVersionId")
        REFERENCES "ModelVersion"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "ResourceReview_modelVersionId_userId_key"
    ON "ResourceReview" ("modelVersionId", "userId");

CREATE TABLE "KeyValue" (
    "key"   TEXT NOT NULL,
    "value" JSONB NOT NULL,
    CONSTRAINT "KeyValue_pkey" PRIMARY KEY ("key")
);

-- No foreign key to "Model": production has none, so deleted models leave rows behind
-- unless the job removes them.
CREATE TABLE "ModelBaseModelMetric" (
    "modelId"       INTEGER NOT NULL,
    "baseModel"     TEXT NOT NULL,
    "thumbsUpCount" INTEGER NOT NULL DEFAULT 0,
    "downloadCount" INTEGER NOT NULL DEFAULT 0,
    "imageCount"    INTEGER NOT NULL DEFAULT 0,
    "status"        "ModelStatus" NOT NULL,
    "availability"  "Availability" NOT NULL,
    "nsfwLevel"     INTEGER NOT NULL DEFAULT 0,
    "mode"          "ModelModifier",
    "poi"           BOOLEAN NOT NULL DEFAULT false,
    "minor"         BOOLEAN NOT NULL DEFAULT false,
    "updatedAt"     TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "ModelBaseModelMetric_pkey" PRIMARY KEY ("modelId", "baseModel")
);
CREATE INDEX "mbmm_feed_highest_rated" ON "ModelBaseModelMetric"
    ("baseModel", "thumbsUpCount" DESC, "downloadCount" DESC, "modelId")
    INCLUDE ("imageCount", "status", "availability", "nsfwLevel", "mode", "poi", "minor");
CREATE INDEX "mbmm_feed_most_downloaded" ON "ModelBaseModelMetric"
    ("baseModel", "downloadCount" DESC, "thumbsUpCount" DESC, "modelId")
    INCLUDE ("imageCount", "status", "availability", "nsfwLevel", "mode", "poi", "minor");
CREATE INDEX "mbmm_feed_image_count" ON "ModelBaseModelMetric"
    ("baseModel", "imageCount" DESC, "thumbsUpCount" DESC, "modelId")
    INCLUDE ("downloadCount", "status", "availability", "nsfwLevel", "mode", "poi", "minor");

-- Keeps the six denormalized columns equal to the model's.
CREATE FUNCTION "update_model_base_model_metric_denorm"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE "ModelBaseModelMetric"
    SET "status" = NEW."status", "availability" = NEW."availability", "nsfwLevel" = NEW."nsfwLevel",
        "mode" = NEW."mode", "poi" = NEW."poi", "minor" = NEW."minor"
    WHERE "modelId" = NEW."id";
    RETURN NEW;
END;
$$;
CREATE TRIGGER "model_base_model_metric_denorm"
    AFTER UPDATE OF "status", "availability", "nsfwLevel", "mode", "poi", "minor" ON "Model"
    FOR EACH ROW
    WHEN ((OLD."status", OLD."availability", OLD."nsfwLevel", OLD."mode", OLD."poi", OLD."minor")
          IS DISTINCT FROM (NEW."status", NEW."availability", NEW."nsfwLevel", NEW."mode", NEW."poi", NEW."minor"))
    EXECUTE FUNCTION "update_model_base_model_metric_denorm"();

-- A version that becomes Published gets a zero-count row for its (model, base model).
CREATE FUNCTION "insert_model_base_model_metric_on_publish"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "ModelBaseModelMetric" ("modelId", "baseModel", "status", "availability", "nsfwLevel",
                                        "mode", "poi", "minor", "updatedAt")
    SELECT m."id", NEW."baseModel", m."status", m."availability", m."nsfwLevel", m."mode", m."poi", m."minor", now()
    FROM "Model" m
    WHERE m."id" = NEW."modelId"
    ON CONFLICT ("modelId", "baseModel") DO NOTHING;
    RETURN NEW;
END;
$$;
CREATE TRIGGER "model_version_publish_base_model_metric"
    AFTER INSERT OR UPDATE OF "status", "baseModel", "modelId" ON "ModelVersion"
    FOR EACH ROW
    WHEN (NEW."status" = 'Published')
    EXECUTE FUNCTION "insert_model_base_model_metric_on_publish"();
