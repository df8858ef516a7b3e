using Bmm.Oracle;

namespace Bmm.Seeding;

/// <summary>All SQL that <c>bmm seed</c> sends.</summary>
internal static class SeedSql
{
    /// <summary>The first site table that holds rows, if any.</summary>
    public const string FirstNonEmptyTable = """
        SELECT name FROM (VALUES
            (1, 'Model', EXISTS (SELECT 1 FROM "Model")),
            (2, 'ModelVersion', EXISTS (SELECT 1 FROM "ModelVersion")),
            (3, 'ModelVersionMetric', EXISTS (SELECT 1 FROM "ModelVersionMetric")),
            (4, 'ResourceReview', EXISTS (SELECT 1 FROM "ResourceReview")),
            (5, 'ModelBaseModelMetric', EXISTS (SELECT 1 FROM "ModelBaseModelMetric"))) AS t(n, name, has_rows)
        WHERE has_rows ORDER BY n LIMIT 1
        """;

    public const string TruncateSite = """
        TRUNCATE "Model", "ModelVersion", "ModelVersionMetric", "ResourceReview", "ModelBaseModelMetric", bmm.change_log, bmm.model_queue
        """;

    /// <summary>
    /// For the load's transaction: no trigger fires (neither the capture triggers nor the site's
    /// own) and no foreign key is checked; the generated rows are consistent by construction.
    /// Needs a superuser.
    /// </summary>
    public const string ReplicaRole = "SET LOCAL session_replication_role = replica";

    /// <summary>Memory for the aggregate's sorts and the index builds, for this session only.</summary>
    public const string SessionMemory = "SET work_mem = '256MB'; SET maintenance_work_mem = '1GB'";

    public const string CopyModel = """
        COPY "Model" ("id", "name", "userId", "type", "status", "availability", "mode", "nsfwLevel", "poi", "minor", "lastVersionAt", "updatedAt")
        FROM STDIN (FORMAT BINARY)
        """;

    public const string CopyModelVersion = """
        COPY "ModelVersion" ("id", "modelId", "name", "baseModel", "baseModelType", "status", "availability", "nsfwLevel", "publishedAt", "createdAt", "updatedAt")
        FROM STDIN (FORMAT BINARY)
        """;

    public const string CopyModelVersionMetric = """
        COPY "ModelVersionMetric" ("modelVersionId", "downloadCount", "imageCount", "thumbsUpCount", "thumbsDownCount", "commentCount",
            "collectedCount", "tippedCount", "tippedAmountCount", "generationCount", "earnedAmount", "updatedAt")
        FROM STDIN (FORMAT BINARY)
        """;

    public const string CopyResourceReview = """
        COPY "ResourceReview" ("id", "modelId", "modelVersionId", "userId", "rating", "recommended", "exclude", "tosViolation", "nsfw", "details", "createdAt", "updatedAt")
        FROM STDIN (FORMAT BINARY)
        """;

    /// <summary>The table filled exactly as the oracle defines it, in one statement.</summary>
    public const string FillAggregate = """
        INSERT INTO "ModelBaseModelMetric" ("modelId", "baseModel", "thumbsUpCount", "downloadCount", "imageCount",
            "status", "availability", "nsfwLevel", "mode", "poi", "minor", "updatedAt")
        SELECT e.*, now() FROM (
        """ + OracleSql.ExpectedFast + """

        ) e
        """;

    public const string AnalyzeSource = """ANALYZE "Model", "ModelVersion", "ModelVersionMetric", "ResourceReview" """;

    public const string AnalyzeAggregate = """ANALYZE "ModelBaseModelMetric", "KeyValue" """;

    // The site's secondary indexes, exactly as Schema/Scripts/Site/0001_site_schema.sql defines
    // them. Large loads drop them and build each once after the load, far faster than
    // maintaining them row by row. IF NOT EXISTS: a load that failed half-way is redone by --replace.
    public const string DropSecondaryIndexes = """
        DROP INDEX IF EXISTS "mbmm_feed_highest_rated", "mbmm_feed_most_downloaded", "mbmm_feed_image_count",
            "ResourceReview_modelVersionId_userId_key", "ModelVersion_modelId_idx"
        """;

    public const string ModelVersionModelIdIndex = """
        CREATE INDEX IF NOT EXISTS "ModelVersion_modelId_idx" ON "ModelVersion" USING HASH ("modelId")
        """;

    public const string ResourceReviewVersionUserIndex = """
        CREATE UNIQUE INDEX IF NOT EXISTS "ResourceReview_modelVersionId_userId_key"
            ON "ResourceReview" ("modelVersionId", "userId")
        """;

    public const string FeedHighestRatedIndex = """
        CREATE INDEX IF NOT EXISTS "mbmm_feed_highest_rated" ON "ModelBaseModelMetric"
            ("baseModel", "thumbsUpCount" DESC, "downloadCount" DESC, "modelId")
            INCLUDE ("imageCount", "status", "availability", "nsfwLevel", "mode", "poi", "minor")
        """;

    public const string FeedMostDownloadedIndex = """
        CREATE INDEX IF NOT EXISTS "mbmm_feed_most_downloaded" ON "ModelBaseModelMetric"
            ("baseModel", "downloadCount" DESC, "thumbsUpCount" DESC, "modelId")
            INCLUDE ("imageCount", "status", "availability", "nsfwLevel", "mode", "poi", "minor")
        """;

    public const string FeedImageCountIndex = """
        CREATE INDEX IF NOT EXISTS "mbmm_feed_image_count" ON "ModelBaseModelMetric"
            ("baseModel", "imageCount" DESC, "thumbsUpCount" DESC, "modelId")
            INCLUDE ("downloadCount", "status", "availability", "nsfwLevel", "mode", "poi", "minor")
        """;

    public static readonly string[] SecondaryIndexes =
        [ModelVersionModelIdIndex, ResourceReviewVersionUserIndex, FeedHighestRatedIndex, FeedMostDownloadedIndex, FeedImageCountIndex];

    /// <summary>
    /// Every recomputing consumer starts at the current horizon: the seeded rows are already in
    /// the table. The incremental state, built before the seed, is forgotten (rebuilt on its next run).
    /// </summary>
    public const string ResetConsumers = """
        UPDATE bmm.consumer SET xid = pg_snapshot_xmin(pg_current_snapshot())::text::bigint - 1, kind = '~', row_id = 2147483647,
            sweep_end = NULL, sweep_model = NULL, updated_at = now()
        WHERE name <> 'incremental';
        DELETE FROM bmm.consumer WHERE name = 'incremental';
        """;

    /// <summary>The baseline job's watermark (epoch milliseconds): it too starts after the seeded rows.</summary>
    public const string SetWatermark = """
        INSERT INTO "KeyValue" ("key", "value") VALUES ('metric:basemodel', to_jsonb(@epoch_ms::bigint))
        ON CONFLICT ("key") DO UPDATE SET "value" = excluded."value"
        """;

    public const string AggregateRows = """SELECT count(*) FROM "ModelBaseModelMetric" """;
}
