-- The yardstick: the whole table in one INSERT ... SELECT of the set-wise oracle
-- (src/Bmm/Oracle/OracleSql.cs, ExpectedFast) into the emptied table, in one transaction.
\timing on
TRUNCATE "ModelBaseModelMetric";
CHECKPOINT;
BEGIN;
INSERT INTO "ModelBaseModelMetric" ("modelId", "baseModel", "thumbsUpCount", "downloadCount", "imageCount",
    "status", "availability", "nsfwLevel", "mode", "poi", "minor", "updatedAt")
WITH published AS (
    SELECT v."id", v."modelId", v."baseModel" FROM "ModelVersion" v WHERE v."status" = 'Published'
), sums AS (
    SELECT p."modelId", p."baseModel", coalesce(sum(m."downloadCount"), 0) AS downloads, coalesce(sum(m."imageCount"), 0) AS images
    FROM published p LEFT JOIN "ModelVersionMetric" m ON m."modelVersionId" = p."id"
    GROUP BY p."modelId", p."baseModel"
), thumbs AS (
    SELECT p."modelId", p."baseModel", count(DISTINCT r."userId") AS thumbs
    FROM published p JOIN "ResourceReview" r ON r."modelVersionId" = p."id"
    WHERE r."recommended" AND NOT r."exclude" AND NOT r."tosViolation"
    GROUP BY p."modelId", p."baseModel"
)
SELECT s."modelId", s."baseModel", coalesce(t.thumbs, 0)::int, least(s.downloads, 2147483647)::int, least(s.images, 2147483647)::int,
       mo."status", mo."availability", mo."nsfwLevel", mo."mode", mo."poi", mo."minor", now()
FROM sums s JOIN "Model" mo ON mo."id" = s."modelId"
LEFT JOIN thumbs t ON t."modelId" = s."modelId" AND t."baseModel" = s."baseModel";
COMMIT;
