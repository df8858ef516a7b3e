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

    public const string JobSchemaInstalled = "SELECT to_regclass('bmm.consumer') IS NOT NULL AND to_regclass('bmm.change_log') IS NOT NULL";

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

    public const string CurrentUser = "SELECT current_user";
}
