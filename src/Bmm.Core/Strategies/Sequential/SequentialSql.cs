namespace Bmm.Strategies.Sequential;

/// <summary>
/// All SQL of the site's job as it was before the plan. Phase 1 kept the watermark, the
/// affected-models query and the upsert as they are here (see <c>Phase1Sql</c> for what it changed).
/// </summary>
internal static class SequentialSql
{
    /// <summary>The watermark: epoch milliseconds of the start of the last successful run, as a jsonb number.</summary>
    public const string ReadWatermark = """SELECT ("value" #>> '{}')::bigint FROM "KeyValue" WHERE "key" = 'metric:basemodel'""";

    public const string WriteWatermark = """
        INSERT INTO "KeyValue" ("key", "value") VALUES ('metric:basemodel', to_jsonb(@ms::bigint))
        ON CONFLICT ("key") DO UPDATE SET "value" = excluded."value"
        """;

    public const string ReadQueue = "SELECT model_id FROM bmm.model_queue ORDER BY model_id";

    /// <summary>
    /// Flaw: the one query keyed on ModelVersionMetric."updatedAt". Review edits and hard deletes,
    /// publishes, unpublishes and base-model moves never touch that column, so they are seen only
    /// when a metric of the same model happens to change (or the model is queued). A writer that
    /// stamped "updatedAt" and committed more than the 2-minute grace after it is skipped for good.
    /// </summary>
    public const string AffectedSince = """
        SELECT DISTINCT v."modelId"
        FROM "ModelVersionMetric" m
        JOIN "ModelVersion" v ON v."id" = m."modelVersionId"
        WHERE m."updatedAt" > @since
        """;

    /// <summary>Replaced by one generated placeholder per queued id (names only, never values).</summary>
    public const string QueuePlaceholders = "{queue}";

    /// <summary>
    /// Flaw: the queued ids go in as one bind parameter each, and the protocol allows at most
    /// 65,535: past that, every run fails here, before the watermark moves, and the queue never
    /// drains. The result is only counted, as on the site.
    /// </summary>
    public const string QueuedVersions = """SELECT "id" FROM "ModelVersion" WHERE "modelId" IN ({queue})""";

    /// <summary>Deletes the ids the run took, with the same one-parameter-per-id list.</summary>
    public const string ClearQueue = "DELETE FROM bmm.model_queue WHERE model_id IN ({queue})";

    /// <summary>
    /// One batch: version sums LEFT JOIN distinct thumbs-up users. Flaws: version_stats joins
    /// the metric rows, so a pair whose Published versions have reviews but no metric row is
    /// dropped; pairs that no longer have a Published version are simply absent, so their rows
    /// are never deleted; sums are bigint and are not clamped (the upsert then fails on int4).
    /// </summary>
    public const string AggregateBatch = "WITH version_stats AS (" + VersionStats + "), review_stats AS (" + ReviewStats + ")" + """
        SELECT vs."modelId", vs."baseModel", coalesce(rs."thumbsUpCount", 0) AS "thumbsUpCount",
               vs."downloadCount", vs."imageCount"
        FROM version_stats vs
        LEFT JOIN review_stats rs ON rs."modelId" = vs."modelId" AND rs."baseModel" = vs."baseModel"
        """;

    /// <summary>The batch's version_stats CTE; Phase 1 runs it as a query of its own.</summary>
    public const string VersionStats = """
        SELECT v."modelId", v."baseModel",
               sum(m."downloadCount") AS "downloadCount",
               sum(m."imageCount") AS "imageCount"
        FROM "ModelVersionMetric" m
        JOIN "ModelVersion" v ON v."id" = m."modelVersionId"
        WHERE v."modelId" = ANY(@ids) AND v."modelId" BETWEEN @first AND @last AND v."status" = 'Published'
        GROUP BY v."modelId", v."baseModel"
        """;

    /// <summary>The batch's review_stats CTE; Phase 1 runs it as a query of its own.</summary>
    public const string ReviewStats = """
        SELECT v."modelId", v."baseModel",
               count(DISTINCT r."userId") FILTER (WHERE r."recommended") AS "thumbsUpCount"
        FROM "ResourceReview" r
        JOIN "ModelVersion" v ON v."id" = r."modelVersionId"
        WHERE v."modelId" = ANY(@ids) AND v."modelId" BETWEEN @first AND @last AND v."status" = 'Published'
          AND NOT r."exclude" AND NOT r."tosViolation"
        GROUP BY v."modelId", v."baseModel"
        """;

    /// <summary>
    /// One upsert chunk. Flaw: every row is rewritten and its "updatedAt" bumped even when
    /// nothing changed (write and WAL churn). The denormalized columns are copied from Model
    /// on insert only; the site's trigger keeps them afterwards. A counter above the int4
    /// maximum makes the cast in jsonb_to_recordset fail: no clamp. (xmax = 0) tells an
    /// inserted row from an updated one.
    /// </summary>
    public const string Upsert = """
        WITH data AS (
            SELECT * FROM jsonb_to_recordset(@json::jsonb) AS x(
                "modelId" int, "baseModel" text, "thumbsUpCount" int, "downloadCount" int, "imageCount" int)
        ), written AS (
            INSERT INTO "ModelBaseModelMetric" ("modelId", "baseModel", "thumbsUpCount", "downloadCount", "imageCount", "updatedAt",
                "status", "availability", "mode", "nsfwLevel", "minor", "poi")
            SELECT d."modelId", d."baseModel", coalesce(d."thumbsUpCount", 0), coalesce(d."downloadCount", 0), coalesce(d."imageCount", 0), now(),
                   mo."status", mo."availability", mo."mode", mo."nsfwLevel", mo."minor", mo."poi"
            FROM data d
            JOIN "Model" mo ON mo."id" = d."modelId"
            ON CONFLICT ("modelId", "baseModel") DO UPDATE SET
                "thumbsUpCount" = excluded."thumbsUpCount", "downloadCount" = excluded."downloadCount",
                "imageCount" = excluded."imageCount", "updatedAt" = now()
            RETURNING (xmax = 0) AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written
        """;
}
