using Bmm.Configuration;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.Database;

/// <summary>Turns the --connection setting (or its absence) into an open-able data source.</summary>
public static class ConnectionResolver
{
    /// <summary>Database used on the embedded server.</summary>
    public const string EmbeddedDatabase = "bmm";

    public static async Task<NpgsqlDataSource> OpenAsync(string? connectionString, ILogger logger, CancellationToken cancellationToken)
    {
        var resolved = string.IsNullOrWhiteSpace(connectionString)
            ? await EmbeddedPostgres.EnsureAsync(EmbeddedDatabase, logger, cancellationToken)
            : connectionString;
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(resolved);
        }
        catch (ArgumentException e)
        {
            // The message of ArgumentException names the bad keyword, never the value.
            throw new UsageException($"The connection string is malformed: {e.Message}", e);
        }
        var dataSource = Build(builder);
        await CheckReachableAsync(dataSource, builder, cancellationToken);
        return dataSource;
    }

    /// <summary>
    /// The job's data source over <paramref name="builder"/>: named "bmm", which is what Npgsql's
    /// instruments call its pool (by default they would show the connection string).
    /// </summary>
    public static NpgsqlDataSource Build(NpgsqlConnectionStringBuilder builder)
    {
        builder.ApplicationName ??= "bmm";
        builder.PersistSecurityInfo = false;
        // A generous pool: the baselines run up to 10 upserts beside 5 batch pairs.
        if (builder.MaxPoolSize < 30) builder.MaxPoolSize = 30;
        // The job reads and sends only PostgreSQL's built-in types, whose identifiers Npgsql knows:
        // no catalog read when a connection opens (a few milliseconds of every run).
        return new NpgsqlSlimDataSourceBuilder(builder.ConnectionString) { Name = "bmm" }
            .EnableArrays()
            .ConfigureTypeLoading(types => types.EnableTypeLoading(false))
            .Build();
    }

    private static async Task CheckReachableAsync(NpgsqlDataSource dataSource, NpgsqlConnectionStringBuilder builder, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            await dataSource.DisposeAsync();
            throw new UsageException($"Cannot connect to database \"{builder.Database}\" on {builder.Host}:{builder.Port} as \"{builder.Username}\": {Errors.Describe(e)}", e);
        }
    }
}
