namespace Bmm.Strategies.SetBased;

/// <summary>
/// The one statement a setbased batch sends: recompute the given models and write only the
/// difference. Its parts other than the distinct-user count are shared with the batch statements
/// of other strategies.
/// </summary>
internal static class SetBasedSql
{
    /// <summary>
    /// The oracle's definition restricted to the models in @ids (recounting distinct thumbs-up
    /// users only for those in @recount, and for pairs the table lacks), computed and applied in one
    /// statement: pairs without a Published version are deleted, new pairs inserted, and only
    /// rows whose values differ are updated. Sums are clamped to the int4 maximum; the clamped
    /// pairs are returned for logging. Pairs with reviews but no metric row are kept (the metric
    /// join is a LEFT JOIN from the Published versions).
    /// </summary>
    public const string RefreshModels = $"""
        WITH ids AS (
            SELECT DISTINCT id FROM unnest(@ids::int[]) AS id
        ), recount AS (
            SELECT DISTINCT id FROM unnest(@recount::int[]) AS id
        ), {PublishedSums}, desired AS MATERIALIZED (
            -- Models changed only through version metrics keep the distinct-user counts the
            -- table holds: no such change can move them. Every other model, and any pair the
            -- table lacks, is recounted (the subquery runs only in that branch).
            SELECT s."modelId", s."baseModel",
                   CASE WHEN t."modelId" IS NOT NULL AND s."modelId" NOT IN (SELECT id FROM recount)
                        THEN t."thumbsUpCount"
                        ELSE (SELECT count(DISTINCT r."userId")
                              FROM "ModelVersion" v JOIN "ResourceReview" r ON r."modelVersionId" = v."id"
                              WHERE v."modelId" = s."modelId" AND v."baseModel" = s."baseModel" AND v."status" = 'Published'
                                AND r."recommended" AND NOT r."exclude" AND NOT r."tosViolation")::int
                   END AS "thumbsUpCount",
                   least(s.downloads, 2147483647)::int AS "downloadCount",
                   least(s.images, 2147483647)::int AS "imageCount",
                   s.downloads AS raw_downloads, s.images AS raw_images,
                   mo."status", mo."availability", mo."nsfwLevel", mo."mode", mo."poi", mo."minor"
            FROM sums s
            JOIN "Model" mo ON mo."id" = s."modelId"
            LEFT JOIN "ModelBaseModelMetric" t ON t."modelId" = s."modelId" AND t."baseModel" = s."baseModel"
        ), {WriteDesired}
        """;

    /// <summary>
    /// CTEs over a CTE <c>ids</c> of model ids: <c>published</c>, their Published versions, and
    /// <c>sums</c>, the downloads and images of each (model, base model) of those versions, a
    /// version without a metric row counting 0.
    /// </summary>
    internal const string PublishedSums = """
        published AS (
            SELECT v."id", v."modelId", v."baseModel"
            FROM ids JOIN "ModelVersion" v ON v."modelId" = ids.id
            WHERE v."status" = 'Published'
        ), sums AS (
            SELECT p."modelId", p."baseModel",
                   coalesce(sum(m."downloadCount"), 0) AS downloads,
                   coalesce(sum(m."imageCount"), 0) AS images
            FROM published p LEFT JOIN "ModelVersionMetric" m ON m."modelVersionId" = p."id"
            GROUP BY p."modelId", p."baseModel"
        )
        """;

    /// <summary>
    /// The writing end of a batch statement, after CTEs <c>ids</c> (the models recomputed) and
    /// <c>desired</c> (their rows as they should be, with the unclamped sums raw_downloads and
    /// raw_images): deletes their rows that are not desired, updates those that differ, inserts
    /// the missing ones, and returns the counts and the clamped pairs.
    /// </summary>
    internal const string WriteDesired = """
        deleted AS (
            DELETE FROM "ModelBaseModelMetric" t
            USING ids
            WHERE t."modelId" = ids.id
              AND NOT EXISTS (SELECT 1 FROM desired d WHERE d."modelId" = t."modelId" AND d."baseModel" = t."baseModel")
            RETURNING 1
        ), updated AS (
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
        ), inserted AS (
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
        SELECT (SELECT count(*) FROM desired) AS desired,
               (SELECT count(*) FROM inserted) AS inserted,
               (SELECT count(*) FROM updated) AS updated,
               (SELECT count(*) FROM deleted) AS deleted,
               (SELECT coalesce(jsonb_agg(jsonb_build_array(d."modelId", d."baseModel", d.raw_downloads, d.raw_images)), '[]')
                FROM desired d WHERE d.raw_downloads > 2147483647 OR d.raw_images > 2147483647)::text AS clamped
        """;
}
