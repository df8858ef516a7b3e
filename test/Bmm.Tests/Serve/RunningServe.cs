using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Bmm.Hosting;
using Bmm.Recompute;
using Bmm.Refresh;
using Bmm.Serve;
using Bmm.Strategies;
using Bmm.Telemetry;
using Bmm.Tests.Infrastructure;
using Bmm.Writing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace Bmm.Tests.Serve;

/// <summary>A <see cref="ServeHost"/> running in the test process on a free port, with its own metrics.</summary>
public sealed class RunningServe : IAsyncDisposable
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly CancellationTokenSource _stop;
    private readonly Task _serving;

    private RunningServe(string url, JobMetrics metrics, CancellationTokenSource stop, Task serving)
    {
        Url = url;
        Metrics = metrics;
        _stop = stop;
        _serving = serving;
    }

    public string Url { get; }
    public JobMetrics Metrics { get; }
    public Task Serving => _serving;

    /// <summary>Every second, and the job state re-read at most every 0.2 s, so that tests run in seconds.</summary>
    public static Dictionary<string, string?> FastSettings(string url) => new(TestDatabase.JobSettings)
    {
        ["Serve:Schedule"] = "* * * * * *",
        ["Serve:MetricsUrl"] = url,
        ["Serve:StateCacheSeconds"] = "0.2",
        ["Serve:FailureBackoffFloorSeconds"] = "1",
        ["Serve:FailureBackoffCeilingSeconds"] = "2",
    };

    /// <summary>
    /// Serves <paramref name="db"/> with a pool of its own, as a serve process has (the host
    /// disposes it), and a meter of its own, so that its /metrics shows only its own runs.
    /// </summary>
    public static async Task<RunningServe> StartAsync(TestDatabase db, IRefreshStrategy? strategy = null)
    {
        var url = $"http://127.0.0.1:{FreePort()}/";
        var metrics = new JobMetrics($"Bmm.Test.{Guid.NewGuid():N}");
        var dataSource = Database.ConnectionResolver.Build(new NpgsqlConnectionStringBuilder(db.ConnectionString));
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(FastSettings(url)).Build();
        var host = ServeHost.Build(configuration, new JobHostParts(() => dataSource, metrics, TimeProvider.System, _ => { }, () => db.ClickHouse), strategy ?? StrategyCatalog.Create("setbased"));
        var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var serving = ServeAndDisposeAsync(host, dataSource, stop.Token);
        var serve = new RunningServe(url, metrics, stop, serving);
        // Up once /health answers at all.
        await WaitForAsync(async () =>
        {
            if (serving.IsCompleted) await serving; // failed to start: show why
            return await serve.TryHealthAsync() is not null;
        }, TimeSpan.FromSeconds(10), "the endpoint to answer");
        return serve;
    }

    private static async Task ServeAndDisposeAsync(IHost host, NpgsqlDataSource dataSource, CancellationToken stop)
    {
        try
        {
            await ServeHost.RunAsync(host, stop);
        }
        finally
        {
            host.Dispose();
            await dataSource.DisposeAsync();
        }
    }

    public static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    public async Task<(HttpStatusCode Status, string Body)> HealthAsync()
    {
        using var response = await Http.GetAsync(Url + "health", TestContext.Current.CancellationToken);
        return (response.StatusCode, (await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).Trim());
    }

    private async Task<(HttpStatusCode Status, string Body)?> TryHealthAsync()
    {
        try
        {
            return await HealthAsync();
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    public async Task<string> MetricsTextAsync()
    {
        using var response = await Http.GetAsync(Url + "metrics", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
    }

    /// <summary>The value of one series in Prometheus text, e.g. <c>bmm_runs_skipped_total{reason="busy"}</c>; 0 when absent.</summary>
    public static double Value(string exposition, string name, string? label = null)
    {
        foreach (var line in exposition.Split('\n'))
        {
            if (line.StartsWith('#') || !line.StartsWith(name, StringComparison.Ordinal)) continue;
            var rest = line[name.Length..];
            if (rest.Length > 0 && rest[0] is not ('{' or ' ')) continue;
            if (label is not null && !rest.Contains(label, StringComparison.Ordinal)) continue;
            return double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
        }
        return 0;
    }

    /// <summary>Stops serving and returns how long that took.</summary>
    public async Task<TimeSpan> StopAsync()
    {
        var started = Stopwatch.GetTimestamp();
        await _stop.CancelAsync();
        await _serving.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        return Stopwatch.GetElapsedTime(started);
    }

    public static async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (!await condition())
        {
            if (Stopwatch.GetTimestamp() > deadline) Assert.Fail($"Timed out after {timeout.TotalSeconds:F0}s waiting for {what}.");
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_serving.IsCompleted)
        {
            await _stop.CancelAsync();
            try
            {
                await _serving.WaitAsync(TimeSpan.FromSeconds(20), CancellationToken.None);
            }
            catch (Exception) when (TestContext.Current.CancellationToken.IsCancellationRequested)
            {
                // The test is being torn down.
            }
        }
        _stop.Dispose();
        Metrics.Dispose();
    }
}

/// <summary>Strategies that only the tests need: their runs take as long as the test wants.</summary>
public sealed class SleepStrategy(double seconds) : IRefreshStrategy
{
    public string Name => "sleep";
    public string Description => "Sleeps in the database.";
    public string? Consumer => null;
    public Reconciliation Reconciliation => Reconciliation.None;
    public Task<WriteCounts> RepairAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, CancellationToken cancellationToken) =>
        Recomputer.RefreshModelsAsync(connection, transaction, modelIds, Recount.Everything, cancellationToken);

    public async Task RefreshAsync(RefreshContext context, RefreshResult result, CancellationToken cancellationToken)
    {
        await using var command = context.DataSource.CreateCommand("SELECT pg_sleep(@seconds)");
        command.Parameters.AddWithValue("seconds", seconds);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}

/// <summary>Succeeds without consuming anything, so changes stay pending while runs succeed.</summary>
public sealed class NoopStrategy : IRefreshStrategy
{
    public string Name => "noop";
    public string Description => "Does nothing, successfully.";
    public string? Consumer => null;
    public Reconciliation Reconciliation => Reconciliation.None;
    public Task<WriteCounts> RepairAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, CancellationToken cancellationToken) =>
        Recomputer.RefreshModelsAsync(connection, transaction, modelIds, Recount.Everything, cancellationToken);
    public Task RefreshAsync(RefreshContext context, RefreshResult result, CancellationToken cancellationToken) => Task.CompletedTask;
}
