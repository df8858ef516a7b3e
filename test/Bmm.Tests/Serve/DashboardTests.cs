using System.Diagnostics.Metrics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Bmm.Serve;
using Bmm.Telemetry;
using Prometheus;

namespace Bmm.Tests.Serve;

/// <summary>docs/grafana-dashboard.json charts every instrument of JobMetrics under the name /metrics really exports.</summary>
public sealed partial class DashboardTests
{
    [Fact]
    public async Task Every_job_instrument_is_exported_under_its_own_name_and_charted()
    {
        using var metrics = new JobMetrics();
        var registry = Metrics.NewCustomRegistry();
        using var export = ServeHost.Export(metrics, registry);
        metrics.ObserveState(() => new JobStateSnapshot(1, 2, 3, 4, 5));
        var instruments = new Dictionary<string, string>(); // name -> expected Prometheus type
        foreach (var property in typeof(JobMetrics).GetProperties())
        {
            switch (property.GetValue(metrics))
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

        var text = Encoding.UTF8.GetString(await MetricsEndpoint.ExportAsync(registry, TestContext.Current.CancellationToken));
        var families = TypeLine().Matches(text).Select(m => (Name: m.Groups[1].Value, Type: m.Groups[2].Value))
            .Where(f => f.Name.StartsWith("bmm_", StringComparison.Ordinal)).ToDictionary(f => f.Name, f => f.Type);
        Assert.Equal(instruments.OrderBy(i => i.Key, StringComparer.Ordinal), families.OrderBy(f => f.Key, StringComparer.Ordinal));

        var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(RepositoryRoot(), "docs", "grafana-dashboard.json"), TestContext.Current.CancellationToken));
        var expressions = string.Join("\n", dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .Where(p => p.TryGetProperty("targets", out _))
            .SelectMany(p => p.GetProperty("targets").EnumerateArray())
            .Select(t => t.GetProperty("expr").GetString()));
        foreach (var (name, type) in families)
        {
            var series = type == "histogram" ? name + "_bucket" : name;
            Assert.True(Regex.IsMatch(expressions, $@"\b{series}\{{"), $"The dashboard does not chart {series}.");
        }
        Assert.DoesNotMatch(@"\bbmm_bmm_", expressions);
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            if (File.Exists(Path.Combine(directory.FullName, "bmm.slnx"))) return directory.FullName;
        throw new InvalidOperationException("bmm.slnx not found above the test binaries.");
    }

    [GeneratedRegex(@"^# TYPE (\S+) (\S+)$", RegexOptions.Multiline)]
    private static partial Regex TypeLine();
}
