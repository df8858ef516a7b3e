using ScottPlot;

namespace Bmm.Bench;

/// <summary>
/// One bar group per scenario, one bar per strategy (and the floor), on a log scale. The follow
/// scenario is left out: it measures freshness, not refresh time (its table is in the Markdown).
/// </summary>
public static class BenchChart
{
    public static void Save(BenchReport report, string path)
    {
        var plot = new Plot();
        var scenarios = report.Scenarios.Where(s => s.Scenario != BenchScenario.Follow).ToList();
        var series = scenarios.SelectMany(s => s.Strategies.Select(x => x.Strategy)).Distinct().Prepend("floor").ToList();
        var palette = new ScottPlot.Palettes.Category10();
        var bars = new List<Bar>();
        for (var group = 0; group < scenarios.Count; group++)
        {
            var scenario = scenarios[group];
            for (var i = 0; i < series.Count; i++)
            {
                double? seconds = series[i] == "floor"
                    ? scenario.Floor?.Seconds
                    : scenario.Strategies.FirstOrDefault(s => s.Strategy == series[i])?.Seconds?.Median;
                if (seconds is not > 0) continue;
                // ScottPlot has no log axis: bars are drawn at log10(milliseconds) with matching ticks.
                bars.Add(new Bar
                {
                    Position = group * (series.Count + 1) + i,
                    Value = Math.Log10(seconds.Value * 1000),
                    ValueBase = -1,
                    FillColor = palette.GetColor(i),
                });
            }
        }
        plot.Add.Bars(bars);
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        string[] labels = ["0.1 ms", "1 ms", "10 ms", "100 ms", "1 s", "10 s", "100 s", "1000 s"];
        for (var e = -1; e <= 6; e++) ticks.AddMajor(e, labels[e + 1]);
        plot.Axes.Left.TickGenerator = ticks;
        var groups = new ScottPlot.TickGenerators.NumericManual();
        for (var group = 0; group < scenarios.Count; group++)
            groups.AddMajor(group * (series.Count + 1) + (series.Count - 1) / 2.0, scenarios[group].Scenario.ToString().ToLowerInvariant());
        plot.Axes.Bottom.TickGenerator = groups;
        for (var i = 0; i < series.Count; i++)
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = series[i], FillColor = palette.GetColor(i) });
        // Beside the bars, not over them: with five strategies and the floor it would hide a group.
        plot.ShowLegend(Edge.Right);
        plot.Axes.Left.Label.Text = "refresh time (log scale)";
        plot.Title($"bmm bench, {report.Scale} scale: median of {report.Repeat} trials");
        plot.Axes.SetLimitsY(-1, Math.Max(1, bars.Count == 0 ? 1 : bars.Max(b => b.Value) + 0.5));
        plot.SavePng(path, 1000, 500);
    }
}
