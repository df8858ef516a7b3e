namespace Bmm.Backfill;

/// <summary>All SQL that the backfill sends besides the setbased refresh statement it reuses.</summary>
internal static class BackfillSql
{
    public const string CountModels = """SELECT count(*) FROM "Model" """;

    /// <summary>The next batch of model ids in keyset order.</summary>
    public const string NextModelIds = """
        SELECT "id" FROM "Model" WHERE "id" > @after ORDER BY "id" LIMIT @limit
        """;

    /// <summary>
    /// The next batch of models that have rows but no longer exist, in keyset order. Each call
    /// scans on from @after, so all calls together read the table once.
    /// </summary>
    public const string NextOrphanIds = """
        SELECT DISTINCT t."modelId" FROM "ModelBaseModelMetric" t
        WHERE t."modelId" > @after
          AND NOT EXISTS (SELECT 1 FROM "Model" m WHERE m."id" = t."modelId")
        ORDER BY 1 LIMIT @limit
        """;
}
