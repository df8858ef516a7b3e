-- A synthetic site for timing `bmm backfill` against one INSERT ... SELECT of the oracle:
-- 200,000 models (ids spread up to 600,000), about 265,000 versions (88% of models have one,
-- a few have 20-40), a metric row for 95% of versions, about 1,000,000 reviews skewed towards
-- a few popular versions. Deterministic (setseed). Triggers are off while seeding, so
-- "ModelBaseModelMetric" starts empty and no change-log rows are written.
-- Run on a database migrated with `bmm migrate --with-site-schema`.
SET session_replication_role = replica;
SELECT setseed(0.42);

TRUNCATE "ModelBaseModelMetric", "ResourceReview", "ModelVersionMetric", "ModelVersion", "Model" CASCADE;

INSERT INTO "Model" ("id", "name", "userId", "status", "availability", "nsfwLevel", "poi", "minor", "updatedAt")
SELECT g * 3, 'model ' || g, 1 + (g % 40000),
       (CASE WHEN random() < 0.92 THEN 'Published' WHEN random() < 0.5 THEN 'Draft' ELSE 'Unpublished' END)::"ModelStatus",
       (CASE WHEN random() < 0.95 THEN 'Public' ELSE 'EarlyAccess' END)::"Availability",
       (ARRAY[1, 1, 1, 2, 4, 8, 16])[1 + floor(random() * 7)::int], random() < 0.01, random() < 0.005, now()
FROM generate_series(1, 200000) g;

-- Versions per model: 88% one, 10% two or three, 1.8% four to ten, 0.2% twenty to forty.
CREATE TEMP TABLE version_counts AS
SELECT "id" AS model_id,
       CASE WHEN r < 0.88 THEN 1 WHEN r < 0.98 THEN 2 + floor(random() * 2)::int
            WHEN r < 0.998 THEN 4 + floor(random() * 7)::int ELSE 20 + floor(random() * 21)::int END AS n
FROM (SELECT "id", random() AS r FROM "Model") m;

INSERT INTO "ModelVersion" ("id", "modelId", "name", "baseModel", "status", "publishedAt")
SELECT row_number() OVER (ORDER BY c.model_id, s.i), c.model_id, 'v' || s.i,
       (ARRAY['SDXL 1.0', 'SDXL 1.0', 'SDXL 1.0', 'Pony', 'Pony', 'Illustrious', 'Illustrious', 'SD 1.5', 'SD 1.5',
              'Flux.1 D', 'Flux.1 S', 'SD 3.5', 'NoobAI', 'Wan Video', 'Hunyuan Video', 'Other'])[1 + floor(random() * 16)::int],
       (CASE WHEN random() < 0.9 THEN 'Published' ELSE 'Draft' END)::"ModelStatus", now()
FROM version_counts c CROSS JOIN LATERAL generate_series(1, c.n) s(i);

INSERT INTO "ModelVersionMetric" ("modelVersionId", "downloadCount", "imageCount", "thumbsUpCount")
SELECT "id", floor(exp(random() * 12))::int, floor(exp(random() * 7))::int, floor(exp(random() * 6))::int
FROM "ModelVersion" WHERE random() < 0.95;

INSERT INTO "ResourceReview" ("id", "modelId", "modelVersionId", "userId", "rating", "recommended", "exclude", "tosViolation")
SELECT row_number() OVER (), v."modelId", v."id", r.user_id, 5, random() < 0.9, random() < 0.02, random() < 0.01
FROM (SELECT DISTINCT ON (version_id, user_id) version_id, user_id
      FROM (SELECT 1 + floor(power(random(), 3) * (SELECT max("id") FROM "ModelVersion"))::int AS version_id,
                   1 + floor(random() * 300000)::int AS user_id
            FROM generate_series(1, 1030000)) x) r
JOIN "ModelVersion" v ON v."id" = r.version_id;

RESET session_replication_role;
ANALYZE;
SELECT (SELECT count(*) FROM "Model") AS models, (SELECT count(*) FROM "ModelVersion") AS versions,
       (SELECT count(*) FROM "ModelVersionMetric") AS metrics, (SELECT count(*) FROM "ResourceReview") AS reviews;
