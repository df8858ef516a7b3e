using Bmm.Configuration;
using Bmm.Refresh;
using Bmm.Strategies.ClickHouse;
using Bmm.Strategies.Incremental;
using Bmm.Strategies.Phase1;
using Bmm.Strategies.ReviewsMv;
using Bmm.Strategies.Sequential;
using Bmm.Strategies.SetBased;

namespace Bmm.Strategies;

/// <summary>Every strategy, by name: adding one is a folder under Strategies/ and a line here.</summary>
public static class StrategyCatalog
{
    /// <summary>The strategies; each is stateless, so one instance serves every run.</summary>
    public static readonly IReadOnlyList<IRefreshStrategy> All =
    [
        new SetBasedStrategy(),
        new IncrementalStrategy(),
        new ReviewsMvStrategy(),
        new Phase1Strategy(),
        new SequentialStrategy(),
        new ClickHouseStrategy(),
    ];

    public static IEnumerable<string> Names => All.Select(s => s.Name).Order(StringComparer.Ordinal);

    public static IRefreshStrategy Create(string name) =>
        All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new UsageException($"Unknown strategy '{name}': choose one of {string.Join(", ", Names)}.");
}
