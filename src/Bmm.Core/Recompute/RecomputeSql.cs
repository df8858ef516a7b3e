namespace Bmm.Recompute;

/// <summary>
/// The one statement a recomputing batch sends: the given models recomputed from the site's
/// tables and handed to the write path. Its parts are shared with the batch statements of other
/// strategies (reviews-mv).
/// </summary>
internal static class RecomputeSql
{
    /// <summary>
    /// The oracle's definition restricted to the models in @ids, written through bmm.write_pairs
    /// (only rows that differ, clamped, pairs without a Published version removed). Distinct
    /// thumbs-up users are recounted for every pair when @recount_all, else for the pairs in
    /// (@recount_models, @recount_bases) and those the table lacks; the others keep the count the
    /// table holds, since only a review or a version entering or leaving a pair can move it.
    /// Pairs with reviews but no metric row are kept (the metric join is a LEFT JOIN from the
    /// Published versions).
    /// </summary>
    public const string RefreshModels = $"""
        WITH ids AS (
            SELECT DISTINCT id FROM unnest(@ids::int[]) AS id
        ), recount AS (
            SELECT DISTINCT unnest(@recount_models::int[]) AS model_id, unnest(@recount_bases::text[]) AS base_model
        ), {PublishedSums}, desired AS MATERIALIZED (
            -- Deciding per pair inside one pass (the subquery runs only for a recount) keeps the
            -- planner from joining recounted and kept pairs as two sets (a nested loop once cost 1.5 s).
            SELECT s."modelId", s."baseModel",
                   CASE WHEN t."modelId" IS NOT NULL AND NOT @recount_all
                             AND (s."modelId", s."baseModel") NOT IN (SELECT model_id, base_model FROM recount)
                        THEN t."thumbsUpCount"
                        ELSE (SELECT count(DISTINCT r."userId")
                              FROM "ModelVersion" v JOIN "ResourceReview" r ON r."modelVersionId" = v."id"
                              WHERE v."modelId" = s."modelId" AND v."baseModel" = s."baseModel" AND v."status" = 'Published'
                                AND r."recommended" AND NOT r."exclude" AND NOT r."tosViolation")::int
                   END AS thumbs,
                   s.downloads, s.images
            FROM sums s
            LEFT JOIN "ModelBaseModelMetric" t ON t."modelId" = s."modelId" AND t."baseModel" = s."baseModel"
        )
        {WriteDesired}
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
                   coalesce(sum(m."downloadCount"), 0)::bigint AS downloads,
                   coalesce(sum(m."imageCount"), 0)::bigint AS images
            FROM published p LEFT JOIN "ModelVersionMetric" m ON m."modelVersionId" = p."id"
            GROUP BY p."modelId", p."baseModel"
        )
        """;

    /// <summary>
    /// The end of a batch statement, after CTEs <c>ids</c> (the models recomputed, whose every row
    /// is compared) and <c>desired</c> (their pairs with thumbs, downloads and images): the write
    /// path's counts of what it inserted, updated, deleted and left unchanged, and the clamped pairs.
    /// </summary>
    internal const string WriteDesired = """
        SELECT w.inserted, w.updated, w.deleted, w.unchanged, w.clamped
        FROM (SELECT coalesce(array_agg(d."modelId"), '{}') AS models, coalesce(array_agg(d."baseModel"), '{}') AS bases,
                     coalesce(array_agg(d.thumbs), '{}') AS thumbs, coalesce(array_agg(d.downloads), '{}') AS downloads,
                     coalesce(array_agg(d.images), '{}') AS images
              FROM desired d) g,
             bmm.write_pairs(ARRAY(SELECT id FROM ids), g.models, g.bases, g.thumbs, g.downloads, g.images) w
        """;
}
