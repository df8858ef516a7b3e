using Bmm.ClickHouse;
using Bmm.Configuration;
using Bmm.Oracle;
using Bmm.Refresh;
using Bmm.Strategies;
using Bmm.Strategies.ClickHouse;
using Bmm.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Bmm.Tests.Infrastructure;

/// <summary>
/// A fresh database for one test class (use as IClassFixture) or one test (create and dispose):
/// a clone of the migrated template, dropped afterwards.
/// </summary>
public sealed class TestDatabase : IAsyncLifetime
{
    private string? _adminConnectionString;

    public string Name { get; } = "bmm_test_" + Guid.NewGuid().ToString("N")[..12];
    public string ConnectionString { get; private set; } = "";
    public NpgsqlDataSource DataSource { get; private set; } = null!;
    public JobMetrics Metrics { get; } = new();

    /// <summary>Settings with small batches and steps, so that tests cross their boundaries; hosts are configured with them.</summary>
    public static readonly IReadOnlyDictionary<string, string?> JobSettings = new Dictionary<string, string?>
    {
        ["Job:BatchSize"] = "50",
        ["Job:IncrementalBatchRows"] = "120",
        ["Job:LockTimeoutSeconds"] = "5",
        ["Job:StatementTimeoutSeconds"] = "60",
    };

    /// <summary><see cref="JobSettings"/>, bound.</summary>
    public JobOptions Options { get; } = Bmm.Cli.CommandEnvironment.BindJob(new ConfigurationBuilder().AddInMemoryCollection(JobSettings).Build());

    public static async Task<TestDatabase> CreateAsync(CancellationToken cancellationToken)
    {
        var database = new TestDatabase();
        await database.InitializeAsync(cancellationToken);
        return database;
    }

    /// <summary>A database the caller created and drops: the helpers of this class over it.</summary>
    public static TestDatabase Attach(string connectionString) =>
        new() { ConnectionString = connectionString, DataSource = NpgsqlDataSource.Create(connectionString) };

    public ValueTask InitializeAsync() => new(InitializeAsync(TestContext.Current.CancellationToken));

    private async Task InitializeAsync(CancellationToken cancellationToken)
    {
        _adminConnectionString = await TestServer.AdminConnectionStringAsync(cancellationToken);
        var template = await TestServer.TemplateAsync(cancellationToken);
        await using (var admin = NpgsqlDataSource.Create(_adminConnectionString))
            await TestServer.ExecuteAsync(admin, $"CREATE DATABASE {Name} TEMPLATE {template}", cancellationToken);
        ConnectionString = new NpgsqlConnectionStringBuilder(_adminConnectionString) { Database = Name, MaxPoolSize = 40 }.ConnectionString;
        DataSource = NpgsqlDataSource.Create(ConnectionString);
        // The template's consumer position is older than this database's transactions; start it here.
        await TestServer.ExecuteAsync(DataSource, "UPDATE bmm.consumer SET xid = pg_snapshot_xmin(pg_current_snapshot())::text::bigint - 1, kind = '~', row_id = 2147483647", cancellationToken);
    }

    /// <summary>The ClickHouse mirror of the clickhouse strategy: made on its first run (single server) unless a test set one.</summary>
    public ClickHouseMirror? ClickHouse { get; set; }

    public RefreshRunner Runner(TimeProvider? time = null) => new(DataSource, Options, time ?? TimeProvider.System, NullLogger.Instance, Metrics, StrategyCatalog.All, ClickHouse);

    public async Task<RunReport> RunAsync(string strategy = "setbased", TimeProvider? time = null)
    {
        var chosen = StrategyCatalog.Create(strategy);
        if (chosen is ClickHouseStrategy) ClickHouse ??= await TestClickHouse.MirrorAsync(this, sharded: false, TestContext.Current.CancellationToken);
        return await Runner(time).RunOnceAsync(chosen, TestContext.Current.CancellationToken);
    }

    public Task<VerifyReport> VerifyAsync() =>
        Verifier.VerifyAsync(DataSource, repairer: null, Options, NullLogger.Instance, Metrics, TestContext.Current.CancellationToken);

    /// <summary>Asserts that the table equals the oracle, showing the differing rows when not.</summary>
    public async Task AssertMatchesOracleAsync(string? context = null)
    {
        var report = await VerifyAsync();
        if (report.Drift == 0) return;
        Assert.Fail($"{context}{(context is null ? "" : ": ")}{report.Missing} missing, {report.Extra} extra, {report.Wrong} wrong:\n" +
            string.Join("\n", report.Samples.Select(s => $"  {s.Kind} ({s.ModelId}, {s.BaseModel}) table={s.Actual} oracle={s.Expected}")) +
            "\n" + await ScalarAsync<string>("""
                SELECT 'positions: ' || coalesce((SELECT string_agg(name || ' ' || xid || '/' || kind::text || '/' || row_id
                                                                  || coalesce(' sweep to ' || sweep_end || ' at ' || sweep_model, ''), ', ' ORDER BY name)
                                                  FROM bmm.consumer), 'none')
                    || '; clickhouse pending: ' || coalesce((SELECT string_agg(model_id || CASE WHEN whole THEN ' whole' ELSE '' END, ' ' ORDER BY model_id) FROM bmm.clickhouse_pending), 'none')
                    || '; change log: ' || coalesce((SELECT string_agg(xid || '/' || kind::text || '/' || row_id, ' ' ORDER BY xid, kind, row_id) FROM bmm.change_log), '')
                """));
    }

    /// <summary>Asserts that the incremental state (versions, reviews, multiplicities, unclamped pairs) equals a recomputation.</summary>
    public async Task AssertIncrementalStateMatchesAsync(string? context = null)
    {
        var drift = await ScalarAsync<string>("""
            SELECT coalesce(string_agg(model_id || ' ' || kind::text || ': ' || sample, E'\n'), '')
            FROM bmm.reconcile_check('incremental', true, 0, 2147483647)
            """);
        Assert.True(drift == "", $"{context}{(context is null ? "" : ": ")}the incremental state drifted:\n{drift}");
    }

    public async Task<int> ExecuteAsync(string sql)
    {
        await using var command = DataSource.CreateCommand(sql);
        return await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
    }

    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var command = DataSource.CreateCommand(sql);
        return (T)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }

    public async ValueTask DisposeAsync()
    {
        if (ClickHouse is not null) await TestClickHouse.DropAsync(ClickHouse);
        if (DataSource is not null) await DataSource.DisposeAsync();
        Metrics.Dispose();
        if (_adminConnectionString is null) return;
        await using var admin = NpgsqlDataSource.Create(_adminConnectionString);
        await TestServer.ExecuteAsync(admin, $"DROP DATABASE IF EXISTS {Name} WITH (FORCE)", CancellationToken.None);
    }
}
