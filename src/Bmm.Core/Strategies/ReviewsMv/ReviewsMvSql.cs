using Bmm.Recompute;

namespace Bmm.Strategies.ReviewsMv;

/// <summary>All SQL of the reviews-mv strategy (the view itself is created by migration 0003).</summary>
internal static class ReviewsMvSql
{
    public const string LastRefresh = "SELECT refreshed_at FROM bmm.review_stats_refresh";

    /// <summary>REFRESH ... CONCURRENTLY as the view's owner (the job's role is not; see 05_owner_tasks.sql).</summary>
    public const string RefreshView = "SELECT bmm.refresh_review_stats()";

    public const string RecordRefresh = "UPDATE bmm.review_stats_refresh SET refreshed_at = @refreshed_at, duration_seconds = @seconds";

    /// <summary>
    /// The models having a row whose thumbs-up count differs from the view's (0 where the view
    /// has no row): those whose reviews changed after their last recomputation from the view.
    /// </summary>
    public const string StaleModels = """
        SELECT coalesce(array_agg(DISTINCT t."modelId" ORDER BY t."modelId"), '{}')
        FROM "ModelBaseModelMetric" t
        LEFT JOIN bmm.review_stats rs ON rs."modelId" = t."modelId" AND rs."baseModel" = t."baseModel"
        WHERE t."thumbsUpCount" <> coalesce(rs."thumbsUpCount", 0)
        """;

    /// <summary>
    /// <see cref="RecomputeSql.RefreshModels"/> with the thumbs-up count taken from the view
    /// (0 where it has no row) instead of counting reviews: the plan's "only join the
    /// pre-aggregated data in the metrics job".
    /// </summary>
    public const string RefreshModels = $"""
        WITH ids AS (
            SELECT DISTINCT id FROM unnest(@ids::int[]) AS id
        ), {RecomputeSql.PublishedSums}, desired AS MATERIALIZED (
            SELECT s."modelId", s."baseModel", coalesce(rs."thumbsUpCount", 0)::int AS thumbs, s.downloads, s.images
            FROM sums s
            LEFT JOIN bmm.review_stats rs ON rs."modelId" = s."modelId" AND rs."baseModel" = s."baseModel"
        )
        {RecomputeSql.WriteDesired}
        """;
}
