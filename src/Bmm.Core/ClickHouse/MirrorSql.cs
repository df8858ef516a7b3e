namespace Bmm.ClickHouse;

/// <summary>The PostgreSQL side of the mirror: what a batch reads of the log and the site's rows, and what a load copies.</summary>
internal static class MirrorSql
{
    public const string NextVersion = "SELECT nextval('bmm.clickhouse_version')";

    /// <summary>
    /// Where a batch of @limit log rows past a position and below the horizon ends: the key of its
    /// last row (no row: the batch takes every row below the horizon).
    /// </summary>
    public const string BatchEnd = """
        SELECT xid, kind::text, row_id FROM bmm.change_log
        WHERE (xid, kind, row_id) > (@xid, @kind::"char", @row_id) AND xid < @below
        ORDER BY xid, kind, row_id OFFSET @limit - 1 LIMIT 1
        """;

    /// <summary>
    /// The rows that changed in a batch of the log (past a position, up to its end key, whose
    /// rows a cut never splits), each once, with what its log rows say about where it counted: a
    /// version's old and new model where it was or is Published, a review's old and new version.
    /// </summary>
    public const string BatchKeys = """
        SELECT kind::text, row_id,
               coalesce(array_agg(old_model) FILTER (WHERE kind = 'v' AND old_status = 'Published'), '{}')
                   || coalesce(array_agg(new_model) FILTER (WHERE kind = 'v' AND new_status = 'Published'), '{}'),
               coalesce(array_agg(old_version) FILTER (WHERE old_version IS NOT NULL), '{}')
                   || coalesce(array_agg(new_version) FILTER (WHERE new_version IS NOT NULL), '{}')
        FROM bmm.change_log
        WHERE (xid, kind, row_id) > (@xid, @kind::"char", @row_id) AND (xid, kind, row_id) <= (@end_xid, @end_kind::"char", @end_row_id)
          AND xid < @below
        GROUP BY kind, row_id
        """;

    /// <summary>
    /// Models mirrored and not yet written; whole wins over not whole. Whole is a hashed set, as
    /// in bmm.write_pairs: = ANY (@whole) would search the array once per model.
    /// </summary>
    public const string AddPending = """
        INSERT INTO bmm.clickhouse_pending (model_id, whole)
        SELECT m, m IN (SELECT unnest(@whole::int[])) FROM unnest(@models::int[]) AS m
        ON CONFLICT (model_id) DO UPDATE SET whole = bmm.clickhouse_pending.whole OR excluded.whole
        """;

    /// <summary>The first @limit pending models in model order, taken in the transaction that writes them.</summary>
    public const string TakePending = """
        DELETE FROM bmm.clickhouse_pending
        WHERE model_id IN (SELECT model_id FROM bmm.clickhouse_pending ORDER BY model_id LIMIT @limit FOR UPDATE)
        RETURNING model_id, whole
        """;

    /// <summary>The models of the given versions, whatever their status.</summary>
    public const string ModelsOfVersions = """SELECT DISTINCT "modelId" FROM "ModelVersion" WHERE "id" = ANY (@ids)""";

    /// <summary>The given versions that count now (Published), with their metrics: rows of <c>versions</c>.</summary>
    public const string Versions = """
        SELECT v."modelId", v."id", v."baseModel", coalesce(m."downloadCount", 0)::bigint, coalesce(m."imageCount", 0)::bigint
        FROM "ModelVersion" v LEFT JOIN "ModelVersionMetric" m ON m."modelVersionId" = v."id"
        WHERE v."id" = ANY (@ids) AND v."status" = 'Published'
        """;

    /// <summary>The given reviews and the reviews of the given versions that count now: rows of <c>reviews</c>.</summary>
    public const string Reviews = """
        SELECT v."modelId", r."id", r."modelVersionId", v."baseModel", r."userId"
        FROM "ResourceReview" r JOIN "ModelVersion" v ON v."id" = r."modelVersionId"
        WHERE (r."id" = ANY (@reviews) OR r."modelVersionId" = ANY (@versions))
          AND v."status" = 'Published' AND r."recommended" AND NOT r."exclude" AND NOT r."tosViolation"
        """;

    /// <summary>Every version of the given models, whatever its status: a repair re-reads them all.</summary>
    public const string VersionsOfModels = """SELECT "id" FROM "ModelVersion" WHERE "modelId" = ANY (@ids)""";

    /// <summary>The load's snapshot: every transaction below its xmin is in it; the log is replayed from there.</summary>
    public const string SnapshotXmin = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

    /// <summary>Every version that counts, as rows of <c>versions</c> (COPY's text format is ClickHouse's TSV).</summary>
    public static string CopyVersions(long ver) => $"""
        COPY (SELECT v."modelId", v."id", v."baseModel", coalesce(m."downloadCount", 0), coalesce(m."imageCount", 0), 0, {ver}
              FROM "ModelVersion" v LEFT JOIN "ModelVersionMetric" m ON m."modelVersionId" = v."id"
              WHERE v."status" = 'Published') TO STDOUT
        """;

    /// <summary>Every review that counts, as rows of <c>reviews</c>.</summary>
    public static string CopyReviews(long ver) => $"""
        COPY (SELECT v."modelId", r."id", r."modelVersionId", v."baseModel", r."userId", 0, {ver}
              FROM "ResourceReview" r JOIN "ModelVersion" v ON v."id" = r."modelVersionId"
              WHERE v."status" = 'Published' AND r."recommended" AND NOT r."exclude" AND NOT r."tosViolation") TO STDOUT
        """;

    /// <summary>
    /// Puts the consumer where a load's snapshot begins, or where the earliest consumer is (this
    /// one included) if that is earlier: the table may not hold the changes that one has yet to
    /// read (a mirror lost and loaded again while this consumer had a backlog left them unwritten
    /// when it was placed at the snapshot), and the mirror's replay of a change it already holds
    /// re-reads the same rows.
    /// </summary>
    public const string PlaceConsumer = """
        INSERT INTO bmm.consumer (name, xid, kind, row_id)
        SELECT @name, least(@xid, (SELECT min(xid) - 1 FROM bmm.consumer)), '~', 2147483647
        ON CONFLICT (name) DO UPDATE SET xid = excluded.xid, kind = excluded.kind, row_id = excluded.row_id,
            sweep_end = NULL, sweep_model = NULL, skip_below = NULL, skip_except = NULL, updated_at = now()
        """;

    /// <summary>Every model the table has rows of: a full recomputation also removes rows of models the mirror lacks.</summary>
    public const string TableModels = """
        SELECT DISTINCT "modelId" FROM "ModelBaseModelMetric"
        """;
}
