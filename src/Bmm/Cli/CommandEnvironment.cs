using System.CommandLine;
using Bmm.Configuration;
using Bmm.Database;
using Bmm.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.Cli;

/// <summary>
/// What every command needs: configuration layered as appsettings.json, then BMM_* environment
/// variables, then command-line flags; logging to standard error; the metrics; the database.
/// </summary>
internal sealed class CommandEnvironment : IAsyncDisposable
{
    private NpgsqlDataSource? _dataSource;

    private CommandEnvironment(IConfiguration configuration, ILoggerFactory loggerFactory, string? connection)
    {
        Configuration = configuration;
        LoggerFactory = loggerFactory;
        Logger = loggerFactory.CreateLogger("bmm");
        Connection = connection;
        Job = configuration.GetSection("Job").Get<JobOptions>() ?? new JobOptions();
        Serve = configuration.GetSection("Serve").Get<ServeOptions>() ?? new ServeOptions();
        Follow = configuration.GetSection("Follow").Get<FollowOptions>() ?? new FollowOptions();
        Job.Validate();
    }

    public IConfiguration Configuration { get; }
    public ILoggerFactory LoggerFactory { get; }
    public ILogger Logger { get; }
    public JobMetrics Metrics { get; } = new();
    public JobOptions Job { get; }
    public ServeOptions Serve { get; }
    public FollowOptions Follow { get; }
    public string? Connection { get; }
    /// <summary>The clock of the timestamp watermarks; tests and benchmarks replace it.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    public static CommandEnvironment Create(ParseResult parse)
    {
        IConfiguration configuration;
        try
        {
            var builder = new ConfigurationBuilder()
                .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
                .AddJsonFile(Path.Combine(Environment.CurrentDirectory, "appsettings.json"), optional: true)
                .AddEnvironmentVariables("BMM_");
            // Flags come last, above the files and the environment.
            if (parse.GetValue(CommonOptions.Verbose))
                builder.AddInMemoryCollection([new("Logging:LogLevel:Default", "Debug")]);
            configuration = builder.Build();
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or System.Text.Json.JsonException)
        {
            throw new UsageException($"The configuration file is malformed: {e.Message}", e);
        }
        var connection = parse.GetValue(CommonOptions.Connection) ?? configuration["Connection"];
        var loggerFactory = Microsoft.Extensions.Logging.LoggerFactory.Create(builder => builder
            .AddConfiguration(configuration.GetSection("Logging"))
            // Logs go to standard error, so that --json output on standard output stays clean.
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
            .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; })
            .AddFilter("Microsoft", LogLevel.Warning));
        try
        {
            return new CommandEnvironment(configuration, loggerFactory, connection);
        }
        catch (InvalidOperationException e)
        {
            loggerFactory.Dispose();
            throw new UsageException($"The configuration is invalid: {e.Message}", e);
        }
    }

    /// <summary>The database: the given connection string, or the embedded server.</summary>
    public async Task<NpgsqlDataSource> DataSourceAsync(CancellationToken cancellationToken) =>
        _dataSource ??= await ConnectionResolver.OpenAsync(Connection, Logger, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (_dataSource is not null) await _dataSource.DisposeAsync();
        Metrics.Dispose();
        LoggerFactory.Dispose();
    }
}
