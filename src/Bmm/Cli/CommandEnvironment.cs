using System.CommandLine;
using System.Diagnostics.CodeAnalysis;
using Bmm.ClickHouse;
using Bmm.Configuration;
using Bmm.Database;
using Bmm.Hosting;
using Bmm.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
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
    private ClickHouseMirror? _clickHouse;

    /// <summary>What the command's sessions are called in pg_stat_activity, e.g. "bmm follow".</summary>
    private readonly string _applicationName;

    private CommandEnvironment(IConfiguration configuration, ILoggerFactory loggerFactory, string applicationName)
    {
        Configuration = configuration;
        LoggerFactory = loggerFactory;
        _applicationName = applicationName;
    }

    public IConfiguration Configuration { get; }
    public ILoggerFactory LoggerFactory { get; }
    public JobMetrics Metrics { get; } = new();

    /// <summary>Section Job, bound on first use; a setting that breaks its rules is a usage error.</summary>
    public JobOptions Job => _job ??= BindJob(Configuration);

    /// <summary>The clock of the timestamp watermarks; tests and benchmarks replace it.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>What the hosts of serve and follow take from the command: the database once opened, the metrics, the clock, the logging.</summary>
    public JobHostParts HostParts => new(
        () => _dataSource ?? throw new InvalidOperationException("The database is opened before the host starts."),
        Metrics, Time, logging => ConfigureLogging(logging, Configuration), () => _clickHouse);

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
        return new CommandEnvironment(configuration, CreateLoggerFactory(configuration), "bmm " + parse.CommandResult.Command.Name);
    }

    /// <summary>Levels below which a category is not logged, before Logging:LogLevel overrides them.</summary>
    private static readonly (string Category, LogLevel Level)[] DefaultLevels =
    [
        ("Microsoft", LogLevel.Warning),
        // Every unhealthy check would be an error; /health's transitions are logged once each (Bmm.Health).
        ("Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.None),
    ];

    /// <summary>
    /// The logging of a command, built without a service container (whose generic types
    /// NativeAOT builds at run time, tens of milliseconds of every run): the console provider
    /// writing <see cref="LineFormatter"/> lines to standard error, levels from Logging:LogLevel.
    /// </summary>
    private static ILoggerFactory CreateLoggerFactory(IConfiguration configuration)
    {
        var filters = new LoggerFilterOptions { MinLevel = LogLevel.Information };
        foreach (var (category, level) in DefaultLevels) filters.Rules.Add(new LoggerFilterRule(null, category, level, null));
        foreach (var setting in configuration.GetSection("Logging:LogLevel").GetChildren())
        {
            if (!Enum.TryParse<LogLevel>(setting.Value, ignoreCase: true, out var level))
                throw new UsageException($"Logging:LogLevel:{setting.Key} is '{setting.Value}', not a log level (Trace, Debug, Information, Warning, Error, Critical or None).");
            filters.Rules.Add(new LoggerFilterRule(null, setting.Key == "Default" ? null : setting.Key, level, null));
        }
        var factory = new LoggerFactory([], new FixedOptions<LoggerFilterOptions>(filters));
        factory.AddProvider(new ConsoleLoggerProvider(new FixedOptions<ConsoleLoggerOptions>(ConsoleOptions(new ConsoleLoggerOptions())), [new LineFormatter(Verbose(configuration))]));
        return factory;
    }

    /// <summary>The logging of a host (serve, follow): the same lines and levels as <see cref="CreateLoggerFactory"/>, through the container.</summary>
    public static void ConfigureLogging(ILoggingBuilder logging, IConfiguration configuration)
    {
        foreach (var (category, level) in DefaultLevels) logging.AddFilter(category, level);
        logging.AddConfiguration(configuration.GetSection("Logging"))
            .AddConsole(o => ConsoleOptions(o));
        // The formatter has no options to bind (AddConsoleFormatter would bind them by reflection).
        logging.Services.TryAddEnumerable(ServiceDescriptor.Singleton<ConsoleFormatter>(new LineFormatter(Verbose(configuration))));
    }

    /// <summary>--verbose, or a default level of Debug or Trace: every logged exception with its stack trace.</summary>
    private static bool Verbose(IConfiguration configuration) =>
        Enum.TryParse<LogLevel>(configuration["Logging:LogLevel:Default"], ignoreCase: true, out var level) && level <= LogLevel.Debug;

    /// <summary>Logs go to standard error, so that --json output on standard output stays clean.</summary>
    private static ConsoleLoggerOptions ConsoleOptions(ConsoleLoggerOptions options)
    {
        options.FormatterName = LineFormatter.FormatterName;
        options.LogToStandardErrorThreshold = LogLevel.Trace;
        return options;
    }

    /// <summary>Options that never change, for the providers built without a container.</summary>
    private sealed class FixedOptions<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] T>(T value) : IOptionsMonitor<T>
    {
        public T CurrentValue => value;

        public T Get(string? name) => value;

        public IDisposable? OnChange(Action<T, string?> listener) => null;
    }

    /// <summary>
    /// Binds section Job (by generated code), refusing settings it does not have (a typo would
    /// otherwise be ignored) and checking its rules.
    /// </summary>
    public static JobOptions BindJob(IConfiguration configuration) =>
        Bind("Job", () => configuration.GetSection("Job").Get<JobOptions>(binder => binder.ErrorOnUnknownConfiguration = true));

    /// <summary>Binds section ClickHouse as <see cref="BindJob"/> binds Job.</summary>
    public static ClickHouseOptions BindClickHouse(IConfiguration configuration) =>
        Bind("ClickHouse", () => configuration.GetSection("ClickHouse").Get<ClickHouseOptions>(binder => binder.ErrorOnUnknownConfiguration = true));

    /// <summary>
    /// A section bound by <paramref name="get"/> (each call site a concrete type, which the binding
    /// source generator needs), refused with one sentence when it is malformed or breaks its rules.
    /// </summary>
    private static T Bind<T>(string section, Func<T?> get) where T : class, ICheckedOptions, new()
    {
        T options;
        try
        {
            options = get() ?? new T();
        }
        catch (InvalidOperationException e)
        {
            throw new UsageException($"The configuration of {section} is invalid: {e.Message}", e);
        }
        return options.Problem() is { } problem ? throw new UsageException(problem) : options;
    }

    /// <summary>
    /// Section ClickHouse, bound on first use (an unknown setting or a broken rule is a usage
    /// error); without a Url, bmm's own server's address and credentials.
    /// </summary>
    public async Task<ClickHouseMirror> ClickHouseMirrorAsync(CancellationToken cancellationToken)
    {
        if (_clickHouse is not null) return _clickHouse;
        var options = BindClickHouse(Configuration);
        if (options.Nodes.Count == 0)
        {
            var own = await EmbeddedClickHouse.EnsureAsync(LoggerFor(LogCategories.Database), cancellationToken);
            options.Url = own.Url;
            options.User = own.User;
            options.Password = own.Password;
        }
        return _clickHouse = new ClickHouseMirror(new ClickHouseClient(options), LoggerFor(LogCategories.Refresh));
    }

    /// <summary>The database: the Connection setting, or the embedded server.</summary>
    public async Task<NpgsqlDataSource> DataSourceAsync(CancellationToken cancellationToken) =>
        _dataSource ??= await ConnectionResolver.OpenAsync(Connection, LoggerFor(LogCategories.Database), cancellationToken, _applicationName);

    public async ValueTask DisposeAsync()
    {
        if (_dataSource is not null) await _dataSource.DisposeAsync();
        _clickHouse?.Client.Dispose();
        Metrics.Dispose();
        LoggerFactory.Dispose();
    }
}
