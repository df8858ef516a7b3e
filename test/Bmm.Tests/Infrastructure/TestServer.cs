using Bmm.Database;
using Bmm.Schema;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Bmm.Tests.Infrastructure;

/// <summary>
/// The embedded PostgreSQL the tests share, and a template database migrated with the site
/// schema that every test class clones (CREATE DATABASE ... TEMPLATE), so classes run in parallel
/// on databases of their own.
/// </summary>
public static class TestServer
{
    private static readonly SemaphoreSlim TemplateGate = new(1, 1);
    private static string? _adminConnectionString;
    private static string? _templateName;

    public static async Task<string> AdminConnectionStringAsync(CancellationToken cancellationToken)
    {
        if (_adminConnectionString is not null) return _adminConnectionString;
        await TemplateGate.WaitAsync(cancellationToken);
        try
        {
            return _adminConnectionString ??= await EmbeddedPostgres.EnsureAsync("postgres", NullLogger.Instance, cancellationToken);
        }
        finally
        {
            TemplateGate.Release();
        }
    }

    /// <summary>A database migrated with the site schema and the job's objects, named by a hash of the scripts.</summary>
    public static async Task<string> TemplateAsync(CancellationToken cancellationToken)
    {
        var admin = await AdminConnectionStringAsync(cancellationToken);
        await TemplateGate.WaitAsync(cancellationToken);
        try
        {
            if (_templateName is not null) return _templateName;
            var name = "bmm_template_" + Migrator.ScriptsHash();
            await using var adminSource = NpgsqlDataSource.Create(admin);
            await using (var exists = adminSource.CreateCommand("SELECT 1 FROM pg_database WHERE datname = @name AND datistemplate"))
            {
                exists.Parameters.AddWithValue("name", name);
                if (await exists.ExecuteScalarAsync(cancellationToken) is not null) return _templateName = name;
            }
            await ExecuteAsync(adminSource, $"DROP DATABASE IF EXISTS {name} WITH (FORCE)", cancellationToken);
            await ExecuteAsync(adminSource, $"CREATE DATABASE {name}", cancellationToken);
            var builder = new NpgsqlConnectionStringBuilder(admin) { Database = name, Pooling = false };
            await using (var template = NpgsqlDataSource.Create(builder))
            {
                await Migrator.MigrateAsync(template, withSiteSchema: true, cancellationToken);
            }
            await ExecuteAsync(adminSource, $"ALTER DATABASE {name} WITH IS_TEMPLATE true", cancellationToken);
            return _templateName = name;
        }
        finally
        {
            TemplateGate.Release();
        }
    }

    public static async Task ExecuteAsync(NpgsqlDataSource dataSource, string sql, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
