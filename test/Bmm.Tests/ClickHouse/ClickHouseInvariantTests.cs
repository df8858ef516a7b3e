using Bmm.Tests.Infrastructure;
using Bmm.Tests.Invariant;

namespace Bmm.Tests.ClickHouse;

/// <summary>
/// The generated invariant for the clickhouse strategy on one server: the mirror is loaded from
/// a snapshot of the initial population, so that every later change reaches it through the log.
/// </summary>
public sealed class ClickHouseInvariantTests() : RefreshInvariantTests("clickhouse")
{
    protected override Task AfterPopulationAsync() => MirrorLoad.LoadAsync(Database, sharded: false);
}

/// <summary>The same on a cluster of two shards behind Distributed tables: the same results as one server.</summary>
public sealed class ShardedClickHouseInvariantTests() : RefreshInvariantTests("clickhouse")
{
    protected override Task AfterPopulationAsync() => MirrorLoad.LoadAsync(Database, sharded: true);
}

/// <summary>The concurrent invariant: writers' transactions interleaved with runs of the clickhouse strategy.</summary>
public sealed class ClickHouseConcurrentInvariantTests() : ConcurrentInvariantTests("clickhouse")
{
    protected override Task AfterPopulationAsync() => MirrorLoad.LoadAsync(Database, sharded: false);
}

internal static class MirrorLoad
{
    /// <summary>Loads the test database's mirror again (the population was just reset under it).</summary>
    public static async Task LoadAsync(TestDatabase db, bool sharded)
    {
        var ct = TestContext.Current.CancellationToken;
        db.ClickHouse ??= await TestClickHouse.MirrorAsync(db, sharded, ct);
        await db.ClickHouse.LoadAsync(db.DataSource, ct);
    }
}
