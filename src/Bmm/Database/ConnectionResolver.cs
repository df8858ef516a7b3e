using Bmm.Configuration;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.Database;

/// <summary>Turns the --connection setting (or its absence) into an open-able data source.</summary>
public static class ConnectionResolver
{
    /// <summary>Database used on the embedded server.</summary>
    public const string EmbeddedDatabase = "bmm";

    /// <summary>The job's pool has at least this many connections, whatever the connection string says.</summary>
    private const int MinimumPoolSize = 30;

    /// <summary>
    /// The data source of <paramref name="connectionString"/> (the embedded server without one);
    /// its sessions carry <paramref name="applicationName"/> unless the string names one, so that
    /// pg_stat_activity and the lock's holder show which command they belong to.
    /// </summary>
    public static async Task<NpgsqlDataSource> OpenAsync(string? connectionString, ILogger logger, CancellationToken cancellationToken, string applicationName = "bmm")
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
        builder.ApplicationName ??= applicationName;
        if (Problem(builder) is { } problem) throw new UsageException($"The connection string is not usable: {problem}");
        NpgsqlDataSource dataSource;
        try
        {
            dataSource = Build(builder);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"The connection string is not usable: {e.Message}", e);
        }
        await CheckReachableAsync(dataSource, builder, cancellationToken);
        return dataSource;
    }

    /// <summary>What Npgsql accepts in a connection string but fails on later, with a stack trace.</summary>
    private static string? Problem(NpgsqlConnectionStringBuilder builder)
    {
        // Npgsql falls back to PGHOST only when Host is not given at all.
        if (builder.Host is { } host ? string.IsNullOrWhiteSpace(host) : string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("PGHOST")))
            return "Host is missing or empty.";
        if (builder.Port is < 1 or > 65535) return $"Port {builder.Port} is not a TCP port (1 to 65535).";
        if (builder.MinPoolSize > Math.Max(builder.MaxPoolSize, MinimumPoolSize))
            return $"Minimum Pool Size ({builder.MinPoolSize}) is above Maximum Pool Size ({Math.Max(builder.MaxPoolSize, MinimumPoolSize)}).";
        return null;
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
        if (builder.MaxPoolSize < MinimumPoolSize) builder.MaxPoolSize = MinimumPoolSize;
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
