using Bmm.Database;

namespace Bmm.Seeding;

/// <summary>The SQL of <c>bmm demo</c>: the embedded database reset, and the site's feed pages read from the table.</summary>
internal static class DemoSql
{
    public const string DropDatabase = $"DROP DATABASE IF EXISTS \"{ConnectionResolver.EmbeddedDatabase}\" WITH (FORCE)";

    public const string CreateDatabase = $"CREATE DATABASE \"{ConnectionResolver.EmbeddedDatabase}\"";

    public const string BaseModelSizes = """
        SELECT "baseModel", count(*) FROM "ModelBaseModelMetric" GROUP BY "baseModel" ORDER BY 2 DESC, 1
        """;

    // The feed's filters (reference-system.md), without the viewer's browsing level and poi choice.
    private const string FeedPage = """
        SELECT b."modelId", m."name", b."thumbsUpCount", b."downloadCount", b."imageCount"
        FROM "ModelBaseModelMetric" b JOIN "Model" m ON m."id" = b."modelId"
        WHERE b."baseModel" = @base_model AND b."status" = 'Published' AND b."availability" <> 'Private'
          AND (b."mode" IS NULL OR b."mode" <> 'Archived') AND NOT b."minor"
        """;

    public const string HighestRated = FeedPage + """

        ORDER BY b."thumbsUpCount" DESC, b."downloadCount" DESC, b."modelId" LIMIT @limit
        """;

    public const string MostDownloaded = FeedPage + """

        ORDER BY b."downloadCount" DESC, b."thumbsUpCount" DESC, b."modelId" LIMIT @limit
        """;

    public const string ImageCount = FeedPage + """

        ORDER BY b."imageCount" DESC, b."thumbsUpCount" DESC, b."modelId" LIMIT @limit
        """;
}
