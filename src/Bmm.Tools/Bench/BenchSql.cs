namespace Bmm.Bench;

/// <summary>The SQL the benchmark sends, apart from the strategies' own.</summary>
internal static class BenchSql
{
    public const string DatabaseExists = "SELECT 1 FROM pg_database WHERE datname = @name AND datistemplate";

    // Identifiers below are the benchmark's own generated names (letters, digits, underscores).
    public const string CreateFromTemplate = "CREATE DATABASE {0} TEMPLATE {1} STRATEGY FILE_COPY";
    public const string CreateEmpty = "CREATE DATABASE {0}";
    public const string MarkTemplate = "ALTER DATABASE {0} WITH IS_TEMPLATE true ALLOW_CONNECTIONS true";
    public const string UnmarkTemplate = "ALTER DATABASE {0} WITH IS_TEMPLATE false";
    public const string Drop = "DROP DATABASE IF EXISTS {0} WITH (FORCE)";

    /// <summary>
    /// A template is vacuumed before it is copied, as autovacuum keeps a production table: hint
    /// bits and the visibility map are set once, not paid by the first strategy to read a page
    /// of a fresh copy (the floor's untimed preparation would otherwise pay it for the floor).
    /// </summary>
    public const string Settle = "VACUUM (ANALYZE)";

    /// <summary>Not CONCURRENTLY: nothing reads the base while it is prepared.</summary>
    public const string RefreshReviewStats = "REFRESH MATERIALIZED VIEW bmm.review_stats";

    public const string Prewarm = """
        CREATE EXTENSION IF NOT EXISTS pg_prewarm;
        SELECT sum(pg_prewarm(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('public', 'bmm') AND c.relkind IN ('r', 'i', 'm')
        """;

    public const string Settings = """
        SELECT name, setting || coalesce(' ' || unit, '') FROM pg_settings
        WHERE name IN ('server_version', 'shared_buffers', 'effective_cache_size', 'work_mem', 'maintenance_work_mem',
                       'fsync', 'synchronous_commit', 'full_page_writes', 'wal_compression', 'max_wal_size',
                       'checkpoint_timeout', 'random_page_cost', 'autovacuum', 'autovacuum_vacuum_scale_factor',
                       'autovacuum_naptime', 'max_parallel_workers_per_gather', 'jit')
        ORDER BY name
        """;

    /// <summary>Durability as a production server has it; the embedded server runs without it for speed.</summary>
    public const string ProductionDurability = """
        ALTER SYSTEM SET fsync = on;
        ALTER SYSTEM SET synchronous_commit = on;
        ALTER SYSTEM SET full_page_writes = on;
        SELECT pg_reload_conf();
        """;

    public const string ResetDurability = """
        ALTER SYSTEM RESET fsync;
        ALTER SYSTEM RESET synchronous_commit;
        ALTER SYSTEM RESET full_page_writes;
        SELECT pg_reload_conf();
        """;

    public const string WalPosition = "SELECT pg_current_wal_lsn()::text";

    public const string WalBytesSince = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), @since::pg_lsn)::bigint";

    public const string DatabaseBlocks = "SELECT blks_hit, blks_read FROM pg_stat_database WHERE datname = @name";

    public const string TableSizes = """
        SELECT pg_relation_size('"ModelBaseModelMetric"'),
               pg_indexes_size('"ModelBaseModelMetric"'),
               coalesce((SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'ModelBaseModelMetric'), 0),
               coalesce((SELECT autovacuum_count FROM pg_stat_user_tables WHERE relname = 'ModelBaseModelMetric'), 0)
        """;

    public const string DataSize = """
        SELECT 'Model', count(*) FROM "Model"
        UNION ALL SELECT 'ModelVersion', count(*) FROM "ModelVersion"
        UNION ALL SELECT 'ResourceReview', count(*) FROM "ResourceReview"
        UNION ALL SELECT 'ModelBaseModelMetric', count(*) FROM "ModelBaseModelMetric"
        """;

    /// <summary>The rows a window really requires, computed untimed before the floor is timed.</summary>
    public const string PrepareFloor = "CREATE TABLE bmm_floor_expected AS " + Oracle.OracleSql.ExpectedFast + """
        ;
        CREATE UNIQUE INDEX ON bmm_floor_expected ("modelId", "baseModel");
        CREATE TABLE bmm_floor_delete AS
            SELECT t."modelId", t."baseModel" FROM "ModelBaseModelMetric" t
            WHERE NOT EXISTS (SELECT 1 FROM bmm_floor_expected e WHERE e."modelId" = t."modelId" AND e."baseModel" = t."baseModel");
        CREATE TABLE bmm_floor_upsert AS
            SELECT e.*, t."modelId" IS NULL AS is_new
            FROM bmm_floor_expected e
            LEFT JOIN "ModelBaseModelMetric" t ON t."modelId" = e."modelId" AND t."baseModel" = e."baseModel"
            WHERE t."modelId" IS NULL
               OR (t."thumbsUpCount", t."downloadCount", t."imageCount", t."status", t."availability", t."nsfwLevel", t."mode", t."poi", t."minor")
                  IS DISTINCT FROM
                  (e."thumbsUpCount", e."downloadCount", e."imageCount", e."status", e."availability", e."nsfwLevel", e."mode", e."poi", e."minor");
        ANALYZE bmm_floor_delete, bmm_floor_upsert;
        SELECT pg_prewarm('bmm_floor_upsert'), pg_prewarm('bmm_floor_delete');
        """;

    /// <summary>The floor: only the required row changes, in one statement.</summary>
    public const string ApplyFloor = """
        WITH deleted AS (
            DELETE FROM "ModelBaseModelMetric" t USING bmm_floor_delete d
            WHERE t."modelId" = d."modelId" AND t."baseModel" = d."baseModel" RETURNING 1
        ), updated AS (
            UPDATE "ModelBaseModelMetric" t SET
                "thumbsUpCount" = u."thumbsUpCount", "downloadCount" = u."downloadCount", "imageCount" = u."imageCount",
                "status" = u."status", "availability" = u."availability", "nsfwLevel" = u."nsfwLevel",
                "mode" = u."mode", "poi" = u."poi", "minor" = u."minor", "updatedAt" = now()
            FROM bmm_floor_upsert u
            WHERE NOT u.is_new AND t."modelId" = u."modelId" AND t."baseModel" = u."baseModel" RETURNING 1
        ), inserted AS (
            INSERT INTO "ModelBaseModelMetric" ("modelId", "baseModel", "thumbsUpCount", "downloadCount", "imageCount",
                "status", "availability", "nsfwLevel", "mode", "poi", "minor", "updatedAt")
            SELECT "modelId", "baseModel", "thumbsUpCount", "downloadCount", "imageCount",
                   "status", "availability", "nsfwLevel", "mode", "poi", "minor", now()
            FROM bmm_floor_upsert WHERE is_new RETURNING 1
        )
        SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM updated), (SELECT count(*) FROM deleted)
        """;

    public const string FloorModels = """SELECT count(DISTINCT "modelId") FROM bmm_floor_expected""";

    public const string DropFloor = "DROP TABLE bmm_floor_expected, bmm_floor_delete, bmm_floor_upsert";

    /// <summary>
    /// The follow scenario's probe: a Published version (with a metric row) of the median pair
    /// by downloads, a mid-size model rather than the hottest or an idle one.
    /// </summary>
    public const string FollowProbe = """
        WITH pairs AS (
            SELECT t."modelId", t."baseModel",
                   row_number() OVER (ORDER BY t."downloadCount", t."modelId", t."baseModel") AS n,
                   count(*) OVER () AS total
            FROM "ModelBaseModelMetric" t
        )
        SELECT v."id", p."modelId", p."baseModel"
        FROM pairs p
        JOIN "ModelVersion" v ON v."modelId" = p."modelId" AND v."baseModel" = p."baseModel" AND v."status" = 'Published'
        JOIN "ModelVersionMetric" m ON m."modelVersionId" = v."id"
        WHERE p.n >= p.total / 2
        ORDER BY p.n, v."id"
        LIMIT 1
        """;

    /// <summary>Gives the transaction an id, which holds the horizon back for as long as it stays open.</summary>
    public const string TakeTransactionId = "SELECT pg_current_xact_id()";

    /// <summary>The probe write: one more download of the probe's version, committed on its own.</summary>
    public const string ProbeWrite = """
        UPDATE "ModelVersionMetric" SET "downloadCount" = "downloadCount" + 1 WHERE "modelVersionId" = @version
        """;

    /// <summary>
    /// Sent with <see cref="ProbeWrite"/> in its transaction (one round trip): the pair's sum the
    /// probe's commit makes current, by the table's definition, and whether the version still
    /// counts in that pair. The load writes the same tables, so the sum is read rather than
    /// assumed to be the last one plus one: a concurrent metric flush on the pair would otherwise
    /// make every later probe look visible early.
    /// </summary>
    public const string ProbeExpected = """
        SELECT least(coalesce(sum(m."downloadCount"::bigint), 0), 2147483647)::int, coalesce(bool_or(v."id" = @version), false)
        FROM "ModelVersion" v LEFT JOIN "ModelVersionMetric" m ON m."modelVersionId" = v."id"
        WHERE v."modelId" = @model AND v."baseModel" = @base_model AND v."status" = 'Published'
        """;

    /// <summary>What the feed would read for the probe's pair.</summary>
    public const string ProbeVisible = """
        SELECT "downloadCount" FROM "ModelBaseModelMetric" WHERE "modelId" = @model AND "baseModel" = @base_model
        """;

    public const string LargestBaseModels = """
        SELECT "baseModel" FROM "ModelBaseModelMetric" GROUP BY "baseModel" ORDER BY count(*) DESC, 1 LIMIT 3
        """;

    // The feed's filters (reference-system.md); browsing level 31 shows every nsfw level but 0.
    private const string FeedFilter = """
        "baseModel" = @base_model AND "status" = 'Published' AND "availability" <> 'Private'
          AND ("mode" IS NULL OR "mode" <> 'Archived') AND NOT "minor" AND ("nsfwLevel" & 31) <> 0
        """;

    /// <summary>Per sort: its ORDER BY and the keyset predicate that continues after (@k1, @k2, @id).</summary>
    public static readonly (string Name, string Key1, string Key2)[] Sorts =
    [
        ("highest rated", "thumbsUpCount", "downloadCount"),
        ("most downloaded", "downloadCount", "thumbsUpCount"),
        ("image count", "imageCount", "thumbsUpCount"),
    ];

    // The three page queries are built from the column names of Sorts above, never from values.
    public static string FirstPage(string key1, string key2) => $"""
        SELECT "modelId", "{key1}", "{key2}" FROM "ModelBaseModelMetric"
        WHERE {FeedFilter}
        ORDER BY "{key1}" DESC, "{key2}" DESC, "modelId" LIMIT 100
        """;

    public static string DeepPage(string key1, string key2) => $"""
        SELECT "modelId", "{key1}", "{key2}" FROM "ModelBaseModelMetric"
        WHERE {FeedFilter}
          AND ("{key1}" < @k1 OR ("{key1}" = @k1 AND ("{key2}" < @k2 OR ("{key2}" = @k2 AND "modelId" > @id))))
        ORDER BY "{key1}" DESC, "{key2}" DESC, "modelId" LIMIT 100
        """;

    /// <summary>The keyset cursor after @depth rows, the start of a deep page.</summary>
    public static string CursorAt(string key1, string key2) => $"""
        SELECT "{key1}", "{key2}", "modelId" FROM "ModelBaseModelMetric"
        WHERE {FeedFilter}
        ORDER BY "{key1}" DESC, "{key2}" DESC, "modelId" OFFSET @depth LIMIT 1
        """;
}
