namespace Bmm.Strategies.Phase1;

/// <summary>
/// The SQL Phase 1 changed. The watermark, the affected-models query and the upsert it sends
/// are the pre-plan ones, in <c>SequentialSql</c>.
/// </summary>
internal static class Phase1Sql
{
    /// <summary>The queued models' versions, the queue as one int[] parameter; only counted, as on the site.</summary>
    public const string QueuedVersions = """SELECT "id" FROM "ModelVersion" WHERE "modelId" = ANY(@ids)""";

    public const string ClearQueue = "DELETE FROM bmm.model_queue WHERE model_id = ANY(@ids)";

    /// <summary>
    /// The first half of the old batch query: version sums. It defines which pairs exist, and
    /// joins the metric rows, so a pair with reviews but no metric row is never produced. Sums are
    /// bigint, not clamped. Pairs without a Published version are absent, so their rows stay.
    /// </summary>
    public const string VersionStats = Sequential.SequentialSql.VersionStats;

    /// <summary>The second half: distinct thumbs-up users per pair, run beside <see cref="VersionStats"/>.</summary>
    public const string ReviewStats = Sequential.SequentialSql.ReviewStats;
}
