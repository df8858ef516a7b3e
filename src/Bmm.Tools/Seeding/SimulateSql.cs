namespace Bmm.Seeding;

/// <summary>All SQL that <c>bmm simulate</c> sends: the site's writes, one kind per constant.</summary>
internal static class SimulateSql
{
    /// <summary>The highest ids in use; new rows take the next ones.</summary>
    public const string Bounds = """
        SELECT (SELECT coalesce(max("id"), 0) FROM "Model"),
               (SELECT coalesce(max("id"), 0) FROM "ModelVersion"),
               (SELECT coalesce(max("id"), 0) FROM "ResourceReview")
        """;

    /// <summary>The baseline job's watermark as epoch milliseconds, when it holds one.</summary>
    public const string Watermark = """
        SELECT CASE jsonb_typeof("value")
                   WHEN 'number' THEN ("value"::text)::numeric::bigint
                   WHEN 'string' THEN CASE WHEN ("value" #>> '{}') ~ '^[0-9]+$' THEN ("value" #>> '{}')::bigint END
               END
        FROM "KeyValue" WHERE "key" = 'metric:basemodel'
        """;

    /// <summary>The popular versions, most downloaded first: the ones the site's traffic keeps touching.</summary>
    public const string HotVersions = """
        SELECT v."id", v."modelId", v."baseModel"
        FROM "ModelVersion" v JOIN "ModelVersionMetric" m ON m."modelVersionId" = v."id"
        WHERE v."status" = 'Published'
        ORDER BY m."downloadCount" DESC, v."id"
        LIMIT @limit
        """;

    /// <summary>The metric job's bulk write: counters incremented (never past int4), "updatedAt" from the simulated clock.</summary>
    public const string IncrementMetrics = """
        UPDATE "ModelVersionMetric" AS m SET
            "downloadCount" = least(m."downloadCount"::bigint + u.downloads, 2147483647)::int,
            "imageCount" = least(m."imageCount"::bigint + u.images, 2147483647)::int,
            "generationCount" = least(m."generationCount"::bigint + u.generations, 2147483647)::int,
            "updatedAt" = @at
        FROM unnest(@ids::int[], @downloads::int[], @images::int[], @generations::int[]) AS u(id, downloads, images, generations)
        WHERE m."modelVersionId" = u.id
        """;

    public const string CreateReview = """
        INSERT INTO "ResourceReview" ("id", "modelId", "modelVersionId", "userId", "rating", "recommended", "exclude", "tosViolation",
            "nsfw", "details", "createdAt", "updatedAt")
        SELECT @id, v."modelId", v."id", @user_id, @rating, @recommended, false, false, @nsfw, @details, @at, @at
        FROM "ModelVersion" v WHERE v."id" = @version_id
        ON CONFLICT ("modelVersionId", "userId") DO NOTHING
        """;

    /// <summary>A review of the version: the first by a user at or after @user_id, else the first one.</summary>
    public const string FindReview = """
        SELECT "id" FROM (
            (SELECT "id", 0 AS pass FROM "ResourceReview" WHERE "modelVersionId" = @version_id AND "userId" >= @user_id ORDER BY "userId" LIMIT 1)
            UNION ALL
            (SELECT "id", 1 FROM "ResourceReview" WHERE "modelVersionId" = @version_id ORDER BY "userId" LIMIT 1)
        ) r ORDER BY pass LIMIT 1
        """;

    public const string ToggleReviewRecommended = """
        UPDATE "ResourceReview" SET "recommended" = NOT "recommended", "rating" = CASE WHEN "recommended" THEN 2 ELSE 5 END, "updatedAt" = @at
        WHERE "id" = @id
        """;

    public const string ExcludeReview = """UPDATE "ResourceReview" SET "exclude" = true, "updatedAt" = @at WHERE "id" = @id""";

    public const string FlagReviewTosViolation = """UPDATE "ResourceReview" SET "tosViolation" = true, "updatedAt" = @at WHERE "id" = @id""";

    public const string EditReviewText = """UPDATE "ResourceReview" SET "details" = @details, "rating" = @rating, "updatedAt" = @at WHERE "id" = @id""";

    public const string DeleteReview = """DELETE FROM "ResourceReview" WHERE "id" = @id""";

    public const string CreateVersion = """
        INSERT INTO "ModelVersion" ("id", "modelId", "name", "baseModel", "status", "availability", "nsfwLevel", "publishedAt", "createdAt", "updatedAt")
        SELECT @id, m."id", @name, @base_model, 'Published', m."availability", m."nsfwLevel", @at, @at, @at
        FROM "Model" m WHERE m."id" = @model_id
        """;

    public const string CreateVersionMetric = """
        INSERT INTO "ModelVersionMetric" ("modelVersionId", "updatedAt") VALUES (@id, @at)
        """;

    public const string TouchModelLastVersion = """
        UPDATE "Model" SET "lastVersionAt" = @at, "updatedAt" = @at WHERE "id" = @model_id
        """;

    /// <summary>The first version at or after @from that is not Published (wrapping around to the start).</summary>
    public const string FindUnpublishedVersion = """
        SELECT "id", "modelId" FROM (
            (SELECT "id", "modelId", 0 AS pass FROM "ModelVersion" WHERE "id" >= @from AND "status" <> 'Published' ORDER BY "id" LIMIT 1)
            UNION ALL
            (SELECT "id", "modelId", 1 FROM "ModelVersion" WHERE "status" <> 'Published' ORDER BY "id" LIMIT 1)
        ) v ORDER BY pass LIMIT 1
        """;

    public const string FindPublishedVersion = """
        SELECT "id", "modelId" FROM (
            (SELECT "id", "modelId", 0 AS pass FROM "ModelVersion" WHERE "id" >= @from AND "status" = 'Published' ORDER BY "id" LIMIT 1)
            UNION ALL
            (SELECT "id", "modelId", 1 FROM "ModelVersion" WHERE "status" = 'Published' ORDER BY "id" LIMIT 1)
        ) v ORDER BY pass LIMIT 1
        """;

    public const string PublishVersion = """
        UPDATE "ModelVersion" SET "status" = 'Published', "publishedAt" = coalesce("publishedAt", @at), "updatedAt" = @at WHERE "id" = @id
        """;

    public const string UnpublishVersion = """
        UPDATE "ModelVersion" SET "status" = 'Unpublished', "updatedAt" = @at WHERE "id" = @id
        """;

    public const string MoveVersion = """
        UPDATE "ModelVersion" SET "baseModel" = @base_model, "updatedAt" = @at WHERE "id" = @id AND "baseModel" <> @base_model
        """;

    /// <summary>The first model at or after @from (wrapping around to the start).</summary>
    public const string FindModel = """
        SELECT "id" FROM (
            (SELECT "id", 0 AS pass FROM "Model" WHERE "id" >= @from ORDER BY "id" LIMIT 1)
            UNION ALL
            (SELECT "id", 1 FROM "Model" ORDER BY "id" LIMIT 1)
        ) m ORDER BY pass LIMIT 1
        """;

    public const string SetModelNsfwLevel = """UPDATE "Model" SET "nsfwLevel" = @nsfw_level, "updatedAt" = @at WHERE "id" = @id""";

    public const string ToggleModelPublished = """
        UPDATE "Model" SET "status" = CASE WHEN "status" = 'Published' THEN 'Unpublished'::"ModelStatus" ELSE 'Published'::"ModelStatus" END,
            "updatedAt" = @at
        WHERE "id" = @id
        """;

    public const string ToggleModelPoi = """UPDATE "Model" SET "poi" = NOT "poi", "updatedAt" = @at WHERE "id" = @id""";

    public const string ToggleModelMinor = """UPDATE "Model" SET "minor" = NOT "minor", "updatedAt" = @at WHERE "id" = @id""";

    public const string SetModelAvailability = """
        UPDATE "Model" SET "availability" = @availability::"Availability", "updatedAt" = @at WHERE "id" = @id
        """;

    public const string ToggleModelArchived = """
        UPDATE "Model" SET "mode" = CASE WHEN "mode" IS NULL THEN 'Archived'::"ModelModifier" END, "updatedAt" = @at WHERE "id" = @id
        """;

    /// <summary>An edit that touches none of the six denormalized columns.</summary>
    public const string RenameModel = """UPDATE "Model" SET "name" = @name, "updatedAt" = @at WHERE "id" = @id""";

    /// <summary>A hard delete, cascading to the versions, their metrics and reviews.</summary>
    public const string DeleteModel = """DELETE FROM "Model" WHERE "id" = @id""";
}
