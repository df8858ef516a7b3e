namespace Bmm.Schema;

/// <summary>The SQL that <c>migrate</c> sends besides the versioned scripts.</summary>
internal static class SchemaSql
{
    public static readonly string[] SiteTables =
        ["Model", "ModelVersion", "ModelVersionMetric", "ResourceReview", "KeyValue", "ModelBaseModelMetric"];

    public const string MissingSiteTables = """
        SELECT t FROM unnest(@tables::text[]) AS t
        WHERE to_regclass(quote_ident(t)) IS NULL
        """;

    /// <summary>Whether the job's tables exist, and the scripts' version that migrate recorded (schema bmm's comment).</summary>
    public const string JobSchemaInstalled = """
        SELECT to_regclass('bmm.consumer') IS NOT NULL AND to_regclass('bmm.change_log') IS NOT NULL,
               (SELECT obj_description(n.oid, 'pg_namespace') FROM pg_namespace n WHERE n.nspname = 'bmm')
        """;

    /// <summary>The comment by which migrate records the scripts' version (<see cref="Migrator.ScriptsHash"/>).</summary>
    public static string ScriptsVersionComment(string hash) => "bmm scripts " + hash;

    /// <summary>
    /// Records which scripts built the schema, so that another version of the job refuses it with
    /// one sentence before it meets a function that changed. The hash is hexadecimal (a safe literal).
    /// </summary>
    public static string RecordScriptsVersion(string hash) => $"COMMENT ON SCHEMA bmm IS '{ScriptsVersionComment(hash)}'";

    public const string CaptureTriggers = """
        SELECT tgrelid::regclass::text || ': ' || tgname
        FROM pg_trigger
        WHERE tgname LIKE 'bmm\_capture\_%' AND NOT tgisinternal
        ORDER BY 1
        """;

    public const string DropCaptureTriggers = """
        DO $$
        DECLARE t record;
        BEGIN
            FOR t IN SELECT tgname, tgrelid::regclass AS rel FROM pg_trigger
                     WHERE tgname LIKE 'bmm\_capture\_%' AND NOT tgisinternal LOOP
                EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
            END LOOP;
        END;
        $$
        """;

    // The migration journal lives in schema bmm, so the schema comes first.
    public const string CreateJobSchema = "CREATE SCHEMA IF NOT EXISTS bmm";

    public const string SetLockTimeout = "SET lock_timeout = '30s'";

    /// <summary>The roles the printed GRANTs name, quoted as identifiers (the job's role defaults to the one running migrate).</summary>
    public const string GrantRoles = "SELECT quote_ident(coalesce(@job_role, current_user)), quote_ident(@writer_role)";
}
