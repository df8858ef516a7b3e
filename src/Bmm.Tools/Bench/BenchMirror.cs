using System.Diagnostics;
using Bmm.ClickHouse;
using Bmm.Configuration;
using Bmm.Strategies.ClickHouse;
using Bmm.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.Bench;

/// <summary>
/// The benchmark's ClickHouse, for the clickhouse strategy. A trial's mirror must hold the site
/// as it was before the scenario's window, as a deployment that has been running would: loaded
/// from the trial's own database, it would already hold the window, and a replay could not see
/// where a changed row counted before. So the state before the window is loaded once per
/// benchmark (from a copy of the base, or empty for bulk) and copied into the trial's ClickHouse
/// database, whose consumer starts where the other strategies' do. Each PostgreSQL database has a
/// ClickHouse database of the same name, so that runs never share a mirror.
/// </summary>
internal sealed class BenchMirror(ClickHouseOptions server, BenchDatabases databases, ILogger logger, Action<string> progress)
{
    public static readonly string Strategy = new ClickHouseStrategy().Name;

    private const string SetVersion = "SELECT setval('bmm.clickhouse_version', @ver)";
    private const string LastVersion = "SELECT last_value FROM bmm.clickhouse_version";

    /// <summary>The mirrors of the states before a window: (ClickHouse database, the highest row version in it), by whether the site is empty.</summary>
    private readonly Dictionary<bool, (string Database, long Ver)> _sources = [];
    private readonly HashSet<string> _used = [];

    /// <summary>The server's process, when it is bmm's own on this machine; null elsewhere.</summary>
    public ClickHouseServerProcess? Process { get; } = ClickHouseServerProcess.Find(server);

    /// <summary>The server, for the report: its address, and its process when it is measured.</summary>
    public string Describe() => Process is { } process
        ? $"{server.Url} (bmm's own server, pid {process.Pid}: its CPU and memory are measured)"
        : $"{server.Url} (not on this machine, or not bmm's own: its CPU and memory are not measured)";

    /// <summary>The ClickHouse settings of a <c>bmm run</c> of <paramref name="database"/>, as its environment.</summary>
    public Dictionary<string, string> Environment(string database) => new()
    {
        ["BMM_ClickHouse__Url"] = server.Url ?? "",
        ["BMM_ClickHouse__User"] = server.User,
        ["BMM_ClickHouse__Password"] = server.Password,
        ["BMM_ClickHouse__Database"] = database,
        ["BMM_ClickHouse__Cluster"] = server.Cluster ?? "",
    };

    /// <summary>
    /// Gives the trial database <paramref name="database"/> the mirror of the state before its
    /// window: the rows copied from the loaded state, the marker naming the trial's database, the
    /// consumer where the earliest other consumer is (as a load places it) and the row versions past the copied ones.
    /// </summary>
    public async Task PrepareTrialAsync(NpgsqlDataSource dataSource, string database, string baseDatabase, bool emptySite, CancellationToken cancellationToken)
    {
        var source = await SourceAsync(baseDatabase, emptySite, cancellationToken);
        using var client = Client(database);
        var mirror = new ClickHouseMirror(client, logger);
        await mirror.CreateTablesAsync(rebuild: true, cancellationToken);
        var to = new ClickHouseSql(client.Options);
        var from = new ClickHouseSql(Options(source.Database));
        await client.ExecuteAsync($"INSERT INTO {to.Versions} SELECT * FROM {from.Versions}", cancellationToken);
        await client.ExecuteAsync($"INSERT INTO {to.Reviews} SELECT * FROM {from.Reviews}", cancellationToken);
        // Merged as a mirror that has been running a while is, so that no merge of the copy runs during the trial.
        if (!to.Sharded)
        {
            await client.ExecuteAsync($"OPTIMIZE TABLE {to.Versions} FINAL", cancellationToken);
            await client.ExecuteAsync($"OPTIMIZE TABLE {to.Reviews} FINAL", cancellationToken);
        }
        await mirror.MarkLoadedAsync(database, source.Ver, cancellationToken);

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using (var place = new NpgsqlCommand(MirrorSql.PlaceConsumer, connection))
        {
            place.Parameters.AddWithValue("name", ClickHouseMirror.Consumer);
            place.Parameters.AddWithValue("xid", long.MaxValue);
            await place.ExecuteNonQueryAsync(cancellationToken);
        }
        await using var version = new NpgsqlCommand(SetVersion, connection);
        version.Parameters.AddWithValue("ver", Math.Max(1, source.Ver));
        await version.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// The full recomputation of the clickhouse strategy on <paramref name="database"/>, in this
    /// process: the mirror loaded from it (<c>bmm clickhouse load</c>), then every pair computed
    /// from the mirror and written (<c>bmm clickhouse recompute</c>, in batches of Job:BatchSize
    /// models as there). Null when <paramref name="timeout"/> passed first.
    /// </summary>
    public async Task<TrialProcess.RunOutput?> RecomputeAllAsync(string connectionString, string database, TimeSpan timeout, CancellationToken cancellationToken)
    {
        // Its own pool, closed on return as a process's would be: the backends exit and flush their block statistics.
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        using var client = Client(database);
        var mirror = new ClickHouseMirror(client, logger);
        using var metrics = new JobMetrics();
        var job = new JobOptions();
        try
        {
            var load = await mirror.LoadAsync(dataSource, deadline.Token);
            var started = Stopwatch.GetTimestamp();
            var models = new LastTotal();
            var write = await mirror.RecomputeAllAsync(new Database.Transactions(dataSource, job, logger, metrics), job.BatchSize, models, deadline.Token);
            var recompute = Stopwatch.GetElapsedTime(started).TotalSeconds;
            return new TrialProcess.RunOutput(new Cli.RunJson
            {
                Outcome = "succeeded",
                Strategy = Strategy,
                Seconds = load.Seconds + recompute,
                AffectedModels = models.Total,
                Inserted = write.Inserted,
                Updated = write.Updated,
                Deleted = write.Deleted,
                Unchanged = write.Unchanged,
                Phases = new() { ["load"] = load.Seconds, ["recompute"] = recompute },
            }, "", ProcessSeconds: 0);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>Drops every ClickHouse database this benchmark made.</summary>
    public async Task DropAllAsync(CancellationToken cancellationToken)
    {
        foreach (var database in _used)
        {
            using var client = Client(database);
            await client.ExecuteAsync($"DROP DATABASE IF EXISTS {database}", cancellationToken);
        }
    }

    /// <summary>The mirror of the seeded site (loaded from a copy of the base, once), or of an empty one.</summary>
    private async Task<(string Database, long Ver)> SourceAsync(string baseDatabase, bool emptySite, CancellationToken cancellationToken)
    {
        if (_sources.TryGetValue(emptySite, out var source)) return source;
        var name = $"bmm_bench_mirror_{System.Environment.ProcessId}" + (emptySite ? "_empty" : "");
        using var client = Client(name);
        var mirror = new ClickHouseMirror(client, logger);
        if (emptySite)
        {
            await mirror.CreateTablesAsync(rebuild: true, cancellationToken);
            return _sources[emptySite] = (name, 0);
        }
        progress($"clickhouse: loading the mirror of {baseDatabase} into ClickHouse database {name} (once; each trial copies it)");
        // The load registers and places its consumer: in a copy, never in the cached base.
        await databases.DropAsync(name, cancellationToken);
        await databases.CloneAsync(baseDatabase, name, cancellationToken);
        try
        {
            await using var dataSource = databases.Open(name);
            var load = await mirror.LoadAsync(dataSource, cancellationToken);
            progress($"clickhouse: loaded {load.Versions:N0} versions and {load.Reviews:N0} reviews in {load.Seconds:F1} s");
            await using var last = dataSource.CreateCommand(LastVersion);
            return _sources[emptySite] = (name, (long)(await last.ExecuteScalarAsync(cancellationToken))!);
        }
        finally
        {
            await databases.DropAsync(name, CancellationToken.None);
        }
    }

    private ClickHouseClient Client(string database)
    {
        _used.Add(database);
        return new ClickHouseClient(Options(database));
    }

    private ClickHouseOptions Options(string database) => new()
    {
        Url = server.Url,
        User = server.User,
        Password = server.Password,
        Database = database,
        Cluster = server.Cluster,
        TimeoutSeconds = server.TimeoutSeconds,
        BatchRows = server.BatchRows,
    };

    /// <summary>The number of models a full recomputation goes through, from its progress.</summary>
    private sealed class LastTotal : IProgress<(long Done, long Total)>
    {
        public long Total { get; private set; }

        public void Report((long Done, long Total) value) => Total = value.Total;
    }
}
