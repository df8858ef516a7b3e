using Npgsql;

namespace Bmm.Bench;

/// <summary>The benchmark's databases on one server: created, cloned per trial, dropped.</summary>
internal sealed class BenchDatabases(NpgsqlDataSource admin, string adminConnectionString)
{
    public async Task<bool> TemplateExistsAsync(string name, CancellationToken cancellationToken)
    {
        await using var command = admin.CreateCommand(BenchSql.DatabaseExists);
        command.Parameters.AddWithValue("name", name);
        return await command.ExecuteScalarAsync(cancellationToken) is not null;
    }

    public Task CreateEmptyAsync(string name, CancellationToken cancellationToken) =>
        ExecuteAsync(string.Format(BenchSql.CreateEmpty, Quote(name)), cancellationToken);

    /// <summary>A file-level copy of the template: every trial starts from the identical state.</summary>
    public Task CloneAsync(string template, string name, CancellationToken cancellationToken) =>
        ExecuteAsync(string.Format(BenchSql.CreateFromTemplate, Quote(name), Quote(template)), cancellationToken);

    public async Task MarkTemplateAsync(string name, CancellationToken cancellationToken)
    {
        // Connections to it must be gone before it can be copied.
        NpgsqlConnection.ClearAllPools();
        await ExecuteAsync(string.Format(BenchSql.MarkTemplate, Quote(name)), cancellationToken);
    }

    public async Task DropAsync(string name, CancellationToken cancellationToken)
    {
        NpgsqlConnection.ClearAllPools();
        await ExecuteAsync(string.Format(BenchSql.UnmarkTemplate, Quote(name)), cancellationToken, ignoreMissing: true);
        await ExecuteAsync(string.Format(BenchSql.Drop, Quote(name)), cancellationToken);
    }

    public string ConnectionString(string database) =>
        new NpgsqlConnectionStringBuilder(adminConnectionString) { Database = database, MaxPoolSize = 40, CommandTimeout = 0 }.ConnectionString;

    public NpgsqlDataSource Open(string database) => NpgsqlDataSource.Create(ConnectionString(database));

    /// <summary>Reads every table and index of the database into shared buffers, so each trial starts warm.</summary>
    public async Task PrewarmAsync(string database, CancellationToken cancellationToken)
    {
        var builder = new NpgsqlConnectionStringBuilder(ConnectionString(database)) { Pooling = false };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(BenchSql.Prewarm, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task ExecuteAsync(string sql, CancellationToken cancellationToken, bool ignoreMissing = false)
    {
        await using var command = admin.CreateCommand(sql);
        command.CommandTimeout = 0;
        try
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (PostgresException e) when (ignoreMissing && e.SqlState == PostgresErrorCodes.InvalidCatalogName)
        {
            // Nothing to unmark.
        }
    }

    private static string Quote(string name) => Database.EmbeddedPostgres.QuoteIdentifier(name);
}
