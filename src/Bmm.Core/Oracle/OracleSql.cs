namespace Bmm.Oracle;

/// <summary>The definition every strategy must reproduce, computed from scratch (reference-system.md).</summary>
internal static class OracleSql
{
    /// <summary>Every (model, base model) with a Published version, with its exact numbers.</summary>
    public const string Expected = """
        SELECT v."modelId", v."baseModel",
               coalesce((SELECT count(DISTINCT r."userId")
                         FROM "ModelVersion" v2 JOIN "ResourceReview" r ON r."modelVersionId" = v2."id"
                         WHERE v2."modelId" = v."modelId" AND v2."baseModel" = v."baseModel" AND v2."status" = 'Published'
                           AND r."recommended" AND NOT r."exclude" AND NOT r."tosViolation"), 0)::int AS "thumbsUpCount",
               least(coalesce(sum(m."downloadCount"), 0), 2147483647)::int AS "downloadCount",
               least(coalesce(sum(m."imageCount"), 0), 2147483647)::int AS "imageCount",
               mo."status", mo."availability", mo."nsfwLevel", mo."mode", mo."poi", mo."minor"
        FROM "ModelVersion" v
        JOIN "Model" mo ON mo."id" = v."modelId"
        LEFT JOIN "ModelVersionMetric" m ON m."modelVersionId" = v."id"
        WHERE v."status" = 'Published'
        GROUP BY v."modelId", v."baseModel", mo."id"
        """;

    /// <summary>The same definition written set-wise, fast enough for the whole table; checked against <see cref="Expected"/> in the tests.</summary>
    public const string ExpectedFast = """
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
        SELECT s."modelId", s."baseModel", coalesce(t.thumbs, 0)::int AS "thumbsUpCount",
               least(s.downloads, 2147483647)::int AS "downloadCount", least(s.images, 2147483647)::int AS "imageCount",
               mo."status", mo."availability", mo."nsfwLevel", mo."mode", mo."poi", mo."minor"
        FROM sums s JOIN "Model" mo ON mo."id" = s."modelId"
        LEFT JOIN thumbs t ON t."modelId" = s."modelId" AND t."baseModel" = s."baseModel"
        """;

    /// <summary>
    /// Every difference between the table and the oracle, classified, in one read-only statement
    /// (no temp table, so verify takes no transaction id and never holds back the change-log horizon).
    /// The expected row count comes last, as a row of kind 'total'.
    /// </summary>
    public const string Diff = DiffOf + """
        SELECT kind, "modelId", "baseModel", actual::text, expected::text, false FROM diff
        UNION ALL
        SELECT 'total', count(*)::int, '', NULL, NULL, false FROM expected
        """;

    /// <summary>
    /// <see cref="Diff"/> on a live database: each difference also says whether its model is
    /// pending, named by a change captured past @consumer's position or queued, which the job has
    /// not applied yet. In the same snapshot as the comparison, so that a change is either in both
    /// the sources and the pending set, or in neither.
    /// </summary>
    public const string DiffWithPending = DiffOf + """
        , pending AS MATERIALIZED (
            SELECT p.model_id FROM bmm.pending_models(@consumer) AS p (model_id)
            UNION
            SELECT q.model_id FROM bmm.model_queue q
        )
        SELECT kind, "modelId", "baseModel", actual::text, expected::text, "modelId" IN (SELECT model_id FROM pending) FROM diff
        UNION ALL
        SELECT 'total', count(*)::int, '', NULL, NULL, false FROM expected
        """;

    private const string DiffOf = "WITH expected AS MATERIALIZED (" + ExpectedFast + ")" + """
        , diff AS (
            SELECT CASE WHEN a."modelId" IS NULL THEN 'missing' WHEN e."modelId" IS NULL THEN 'extra' ELSE 'wrong' END AS kind,
                   coalesce(e."modelId", a."modelId") AS "modelId", coalesce(e."baseModel", a."baseModel") AS "baseModel",
                   to_jsonb(a) - 'updatedAt' AS actual, to_jsonb(e) AS expected
            FROM expected e
            FULL JOIN "ModelBaseModelMetric" a ON a."modelId" = e."modelId" AND a."baseModel" = e."baseModel"
            WHERE a."modelId" IS NULL OR e."modelId" IS NULL
               OR (a."thumbsUpCount", a."downloadCount", a."imageCount", a."status", a."availability", a."nsfwLevel", a."mode", a."poi", a."minor")
                  IS DISTINCT FROM
                  (e."thumbsUpCount", e."downloadCount", e."imageCount", e."status", e."availability", e."nsfwLevel", e."mode", e."poi", e."minor")
        )
        """;
}
