using System.Reflection;
using Bmm.Capture;
using Bmm.Configuration;
using DbUp;
using DbUp.Engine;
using DbUp.Support;
using Npgsql;

namespace Bmm.Schema;

/// <summary>What <c>migrate</c> did, for the report.</summary>
public sealed record MigrationReport(
    IReadOnlyList<string> ScriptsApplied,
    IReadOnlyList<string> TriggersAdded,
    IReadOnlyList<string> TriggersRemoved,
    IReadOnlyList<string> Grants);

/// <summary>The job's objects in a database: none, another version's, or this version's.</summary>
public enum JobSchema { Missing, OtherVersion, Current }

/// <summary>
/// Applies the versioned, embedded .sql scripts (recorded by DbUp in bmm.schema_versions) and
/// installs or removes the capture triggers, which are re-applied on every run.
/// </summary>
public static class Migrator
{
    private const string ResourcePrefix = "Bmm.Schema.Scripts.";

    /// <summary>
    /// Applies the scripts and reports what it did, with the GRANTs for <paramref name="jobRole"/>
    /// (default: the role running migrate) and <paramref name="writerRole"/> (default: a placeholder).
    /// </summary>
    public static async Task<MigrationReport> MigrateAsync(NpgsqlDataSource dataSource, bool withSiteSchema, CancellationToken cancellationToken,
        string? jobRole = null, string? writerRole = null)
    {
        // On a database without the site's tables, plain migrate writes nothing at all.
        if (!withSiteSchema) await RequireSiteTablesAsync(dataSource, cancellationToken);
        var applied = new List<string>();
        await using (var createSchema = dataSource.CreateCommand(SchemaSql.CreateJobSchema))
            await createSchema.ExecuteNonQueryAsync(cancellationToken);
        if (withSiteSchema) applied.AddRange(ApplyScripts(dataSource, SiteScripts));
        await RequireSiteTablesAsync(dataSource, cancellationToken);

        var before = await ListCaptureTriggersAsync(dataSource, cancellationToken);
        applied.AddRange(ApplyScripts(dataSource, JobScripts));
        await using (var record = dataSource.CreateCommand(SchemaSql.RecordScriptsVersion(ScriptsHash())))
            await record.ExecuteNonQueryAsync(cancellationToken);
        var after = await ListCaptureTriggersAsync(dataSource, cancellationToken);
        return new MigrationReport(applied, after.Except(before).ToList(), [], await GrantsAsync(dataSource, jobRole, writerRole, cancellationToken));
    }

    public static async Task<MigrationReport> RemoveCaptureAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var before = await ListCaptureTriggersAsync(dataSource, cancellationToken);
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
        {
            await using (var timeout = new NpgsqlCommand(SchemaSql.SetLockTimeout, connection, transaction))
                await timeout.ExecuteNonQueryAsync(cancellationToken);
            await using (var drop = new NpgsqlCommand(SchemaSql.DropCaptureTriggers, connection, transaction))
                await drop.ExecuteNonQueryAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        return new MigrationReport([], [], before, []);
    }

    /// <summary>Fails with one sentence when a site table is missing.</summary>
    public static async Task RequireSiteTablesAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(SchemaSql.MissingSiteTables);
        command.Parameters.AddWithValue("tables", SchemaSql.SiteTables);
        var missing = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            while (await reader.ReadAsync(cancellationToken)) missing.Add(reader.GetString(0));
        if (missing.Count > 0)
            throw new UsageException(
                $"The site table{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing.Select(m => $"\"{m}\""))} " +
                "do not exist in this database: point --connection at the site's database, or run `bmm migrate --with-site-schema` to create an empty one.");
    }

    /// <summary>Fails with one sentence when the job's own objects are missing, or were installed by another version.</summary>
    public static async Task RequireJobSchemaAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await RequireSiteTablesAsync(dataSource, cancellationToken);
        Require(await JobSchemaAsync(dataSource, cancellationToken));
    }

    /// <summary>Fails with one sentence unless <paramref name="schema"/> is this version's.</summary>
    public static void Require(JobSchema schema)
    {
        switch (schema)
        {
            case JobSchema.Missing:
                throw new UsageException("The job's objects (schema bmm) are not installed in this database: run `bmm migrate` first.");
            case JobSchema.OtherVersion:
                throw new UsageException("The job's objects in this database were installed by another version of bmm: run `bmm migrate` with this one first.");
        }
    }

    /// <summary>Whether the job's objects are here, and from this version's scripts.</summary>
    public static async Task<JobSchema> JobSchemaAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(SchemaSql.JobSchemaInstalled);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        if (!reader.GetBoolean(0)) return JobSchema.Missing;
        var installed = reader.IsDBNull(1) ? null : reader.GetString(1);
        return installed == SchemaSql.ScriptsVersionComment(ScriptsHash()) ? JobSchema.Current : JobSchema.OtherVersion;
    }

    /// <summary>A short hash of every embedded script: names databases built from this schema version, and is checked at every command's start.</summary>
    public static string ScriptsHash() => Hash.Value;

    private static readonly Lazy<string> Hash = new(HashScripts);

    private static string HashScripts()
    {
        var assembly = Assembly.GetExecutingAssembly();
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var memory = new MemoryStream();
            stream.CopyTo(memory);
            hash.AppendData(memory.ToArray());
        }
        return Convert.ToHexString(hash.GetHashAndReset())[..8].ToLowerInvariant();
    }

    /// <summary>The site's own schema, for an empty database (versioned).</summary>
    private static readonly ScriptGroup[] SiteScripts = [new("Site.", ScriptType.RunOnce, 0)];

    /// <summary>
    /// The job's objects, in one transaction: the versioned scripts (tables, recorded in
    /// bmm.schema_versions), then the functions and the capture triggers, re-applied every time
    /// (CREATE OR REPLACE), so that a migration that changes the log's shape and the triggers that
    /// write it land together and no site write meets one without the other. The lock timeout
    /// keeps migrate from queueing in front of the site's writers for long.
    /// </summary>
    private static readonly ScriptGroup[] JobScripts =
    [
        new("Prelude.", ScriptType.RunAlways, 0),
        new("Job.", ScriptType.RunOnce, 1),
        new("Functions.", ScriptType.RunAlways, 2),
        new("Capture.", ScriptType.RunAlways, 3),
    ];

    private sealed record ScriptGroup(string Folder, ScriptType Type, int Order);

    private static List<string> ApplyScripts(NpgsqlDataSource dataSource, ScriptGroup[] groups)
    {
        var builder = DeployChanges.To
            .PostgresqlDatabase(new DbUp.Postgresql.PostgresqlConnectionManager(dataSource));
        foreach (var group in groups)
            builder = builder.WithScriptsEmbeddedInAssembly(Assembly.GetExecutingAssembly(),
                name => name.StartsWith(ResourcePrefix + group.Folder, StringComparison.Ordinal),
                new SqlScriptOptions { ScriptType = group.Type, RunGroupOrder = group.Order });
        var upgrader = builder
            .JournalToPostgresqlTable("bmm", "schema_versions")
            .WithTransaction()
            .WithVariablesDisabled()
            .LogToNowhere()
            .Build();
        var result = upgrader.PerformUpgrade();
        if (!result.Successful)
            throw new InvalidOperationException($"Migration {result.ErrorScript?.Name} failed: {result.Error?.Message}", result.Error);
        var runOnce = groups.Where(g => g.Type == ScriptType.RunOnce).Select(g => ResourcePrefix + g.Folder).ToList();
        return result.Scripts.Where(s => runOnce.Any(prefix => s.Name.StartsWith(prefix, StringComparison.Ordinal)))
            .Select(s => s.Name[ResourcePrefix.Length..]).ToList();
    }

    private static async Task<List<string>> ListCaptureTriggersAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var triggers = new List<string>();
        await using var command = dataSource.CreateCommand(SchemaSql.CaptureTriggers);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) triggers.Add(reader.GetString(0));
        return triggers;
    }

    private static async Task<List<string>> GrantsAsync(NpgsqlDataSource dataSource, string? jobRole, string? writerRole, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(SchemaSql.GrantRoles);
        command.Parameters.Add(new NpgsqlParameter<string?>("job_role", NpgsqlTypes.NpgsqlDbType.Text) { TypedValue = jobRole });
        command.Parameters.Add(new NpgsqlParameter<string?>("writer_role", NpgsqlTypes.NpgsqlDbType.Text) { TypedValue = writerRole });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var job = reader.GetString(0);
        var writer = reader.IsDBNull(1) ? "<site_writer_role>" : reader.GetString(1);
        return
        [
            "-- The site's writers (every role that writes Model, ModelVersion, ModelVersionMetric or ResourceReview):",
            $"GRANT USAGE ON SCHEMA bmm TO {writer};",
            $"GRANT INSERT ON bmm.change_log TO {writer};",
            $"-- The job's role ({job}); partitions and the view's refresh go through functions owned by the schema's owner:",
            $"GRANT USAGE ON SCHEMA bmm TO {job};",
            $"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA bmm TO {job};",
            $"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA bmm TO {job};",
            $"ALTER DEFAULT PRIVILEGES IN SCHEMA bmm GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO {job};",
            $"ALTER DEFAULT PRIVILEGES IN SCHEMA bmm GRANT USAGE, SELECT ON SEQUENCES TO {job};",
            $"GRANT SELECT ON \"Model\", \"ModelVersion\", \"ModelVersionMetric\", \"ResourceReview\" TO {job};",
            $"GRANT SELECT, INSERT, UPDATE, DELETE ON \"ModelBaseModelMetric\", \"KeyValue\" TO {job};",
        ];
    }
}
