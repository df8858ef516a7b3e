using Bmm.Configuration;

namespace Bmm.Refresh;

/// <summary>Finds every <see cref="IRefreshStrategy"/> in this assembly, so a new strategy is one new folder.</summary>
public static class StrategyCatalog
{
    private static readonly Lazy<IReadOnlyDictionary<string, Type>> Strategies = new(() =>
        typeof(IRefreshStrategy).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IRefreshStrategy).IsAssignableFrom(t))
            .ToDictionary(t => ((IRefreshStrategy)Activator.CreateInstance(t)!).Name, t => t, StringComparer.OrdinalIgnoreCase));

    public static IEnumerable<string> Names => Strategies.Value.Keys.Order(StringComparer.Ordinal);

    public static IRefreshStrategy Create(string name) =>
        Strategies.Value.TryGetValue(name, out var type)
            ? (IRefreshStrategy)Activator.CreateInstance(type)!
            : throw new UsageException($"Unknown strategy '{name}': choose one of {string.Join(", ", Names)}.");
}
