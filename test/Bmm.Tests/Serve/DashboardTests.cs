using System.Diagnostics.Metrics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Bmm.Tests.Infrastructure;

namespace Bmm.Tests.Serve;

/// <summary>docs/grafana-dashboard.json charts every instrument of JobMetrics under the name a serving host's /metrics really exports.</summary>
public sealed partial class DashboardTests : IAsyncLifetime
{
    private TestDatabase _db = null!;

    public async ValueTask InitializeAsync() => _db = await TestDatabase.CreateAsync(TestContext.Current.CancellationToken);

    public ValueTask DisposeAsync() => _db.DisposeAsync();

    [Fact]
    public async Task Every_job_instrument_is_exported_under_its_own_name_and_charted()
    {
        await using var serve = await RunningServe.StartAsync(_db, new NoopStrategy());
        var instruments = new Dictionary<string, string>(); // Prometheus series name -> type
        foreach (var property in serve.Metrics.GetType().GetProperties())
        {
            switch (property.GetValue(serve.Metrics))
            {
                case Counter<long> counter:
                    counter.Add(1);
                    instruments[counter.Name] = "counter";
                    break;
                case Histogram<double> histogram:
                    histogram.Record(0.5);
                    instruments[histogram.Name] = "histogram";
                    break;
            }
        }
        foreach (var gauge in new[] { "bmm_queue_depth", "bmm_change_log_rows", "bmm_change_log_bytes", "bmm_lag_seconds", "bmm_seconds_since_last_success" })
            instruments[gauge] = "gauge";

        var text = await serve.MetricsTextAsync();
        var families = TypeLine().Matches(text).Select(m => (Name: m.Groups[1].Value, Type: m.Groups[2].Value))
            .Where(f => f.Name.StartsWith("bmm_", StringComparison.Ordinal)).ToDictionary(f => SeriesName(f.Name, f.Type), f => f.Type);
        Assert.Equal(instruments.OrderBy(i => i.Key, StringComparer.Ordinal), families.OrderBy(f => f.Key, StringComparer.Ordinal));
        foreach (var (series, _) in instruments)
            Assert.Matches($@"(?m)^{series}(_bucket)?[{{ ]", text);
        // Histogram buckets fit the job's durations: milliseconds to ten minutes.
        Assert.Contains("bmm_run_duration_seconds_bucket{", text, StringComparison.Ordinal);
        Assert.Matches(@"bmm_run_duration_seconds_bucket\{[^}]*le=""600""", text);
        Assert.DoesNotMatch(@"bmm_run_duration_seconds_bucket\{[^}]*le=""(1000|2500|5000|7500|10000)""", text);
        // Npgsql's instruments name the job's pool "bmm" (other pools in this test process keep their connection strings).
        Assert.Contains("db_client_connection_pool_name=\"bmm\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Password", text, StringComparison.OrdinalIgnoreCase);

        var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(RepositoryRoot(), "docs", "grafana-dashboard.json"), TestContext.Current.CancellationToken));
        var expressions = string.Join("\n", dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .Where(p => p.TryGetProperty("targets", out _))
            .SelectMany(p => p.GetProperty("targets").EnumerateArray())
            .Select(t => t.GetProperty("expr").GetString()));
        foreach (var (name, type) in instruments)
        {
            var series = type == "histogram" ? name + "_bucket" : name;
            Assert.True(Regex.IsMatch(expressions, $@"\b{series}\{{"), $"The dashboard does not chart {series}.");
        }
        Assert.DoesNotMatch(@"\bbmm_bmm_", expressions);
    }

    /// <summary>The name of a family's samples: a counter's family may be named without its _total.</summary>
    private static string SeriesName(string family, string type) =>
        type == "counter" && !family.EndsWith("_total", StringComparison.Ordinal) ? family + "_total" : family;

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            if (File.Exists(Path.Combine(directory.FullName, "bmm.slnx"))) return directory.FullName;
        throw new InvalidOperationException("bmm.slnx not found above the test binaries.");
    }

    [GeneratedRegex(@"^# TYPE (\S+) (\S+)$", RegexOptions.Multiline)]
    private static partial Regex TypeLine();
}
