using System.CommandLine;
using Bmm.Configuration;
using Bmm.Database;
using Bmm.Hosting;
using Bmm.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.Cli;

/// <summary>
/// What every command needs: configuration layered as appsettings.json, then BMM_* environment
/// variables, then the command's flags; logging to standard error, one category per area; the
/// metrics; the database.
/// </summary>
internal sealed class CommandEnvironment : IAsyncDisposable
{
    private NpgsqlDataSource? _dataSource;
    private JobOptions? _job;

    private CommandEnvironment(IConfiguration configuration, ILoggerFactory loggerFactory)
    {
        Configuration = configuration;
        LoggerFactory = loggerFactory;
    }

    public IConfiguration Configuration { get; }
    public ILoggerFactory LoggerFactory { get; }
    public JobMetrics Metrics { get; } = new();

    /// <summary>Section Job, bound on first use; a setting that breaks its rules is a usage error.</summary>
    public JobOptions Job => _job ??= Bind<JobOptions>(Configuration, "Job");

    /// <summary>The clock of the timestamp watermarks; tests and benchmarks replace it.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>What the hosts of serve and follow take from the command: the database once opened, the metrics, the clock, the logging.</summary>
    public JobHostParts HostParts => new(
        () => _dataSource ?? throw new InvalidOperationException("The database is opened before the host starts."),
        Metrics, Time, logging => ConfigureLogging(logging, Configuration));

    /// <summary>The Connection setting (--connection, BMM_CONNECTION, the file); null or empty for the embedded server.</summary>
    public string? Connection => Configuration["Connection"];

    public ILogger LoggerFor(string category) => LoggerFactory.CreateLogger(category);

    /// <summary>
    /// The configuration of one command; <paramref name="flags"/> (setting name to value, null
    /// for a flag not given) come last, above the files and the environment.
    /// </summary>
    public static CommandEnvironment Create(ParseResult parse, IEnumerable<KeyValuePair<string, string?>>? flags = null)
    {
        IConfiguration configuration;
        try
        {
            var given = (flags ?? []).Where(flag => flag.Value is not null).ToList();
            if (parse.GetValue(CommonOptions.Connection) is { } connection) given.Add(new("Connection", connection));
            if (parse.GetValue(CommonOptions.Verbose)) given.Add(new("Logging:LogLevel:Default", "Debug"));
            configuration = new ConfigurationBuilder()
                .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
                .AddJsonFile(Path.Combine(Environment.CurrentDirectory, "appsettings.json"), optional: true)
                .AddEnvironmentVariables("BMM_")
                .AddInMemoryCollection(given)
                .Build();
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or System.Text.Json.JsonException)
        {
            throw new UsageException($"The configuration file is malformed: {e.Message}", e);
        }
        return new CommandEnvironment(configuration, Microsoft.Extensions.Logging.LoggerFactory.Create(logging => ConfigureLogging(logging, configuration)));
    }

    /// <summary>Logs go to standard error, so that --json output on standard output stays clean; levels from Logging:LogLevel.</summary>
    public static void ConfigureLogging(ILoggingBuilder logging, IConfiguration configuration) => logging
        .AddConfiguration(configuration.GetSection("Logging"))
        .AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        })
        .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
        .AddFilter("Microsoft", LogLevel.Warning)
        // Every unhealthy check would be an error; /health's transitions are logged once each (Bmm.Health).
        .AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.None);

    /// <summary>Binds a section, refusing settings it does not have (a typo would otherwise be ignored) and checking its rules.</summary>
    public static T Bind<T>(IConfiguration configuration, string section) where T : class, ICheckedOptions, new()
    {
        T options;
        try
        {
            options = configuration.GetSection(section).Get<T>(binder => binder.ErrorOnUnknownConfiguration = true) ?? new T();
        }
        catch (InvalidOperationException e)
        {
            throw new UsageException($"The configuration of {section} is invalid: {e.Message}", e);
        }
        return options.Problem() is { } problem ? throw new UsageException(problem) : options;
    }

    /// <summary>The database: the Connection setting, or the embedded server.</summary>
    public async Task<NpgsqlDataSource> DataSourceAsync(CancellationToken cancellationToken) =>
        _dataSource ??= await ConnectionResolver.OpenAsync(Connection, LoggerFor(LogCategories.Database), cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (_dataSource is not null) await _dataSource.DisposeAsync();
        Metrics.Dispose();
        LoggerFactory.Dispose();
    }
}
