using Bmm.ClickHouse;
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

    [Fact]
    public async Task Each_shard_holds_part_of_the_mirror_and_the_cluster_computes_what_one_server_does()
    {
        var ct = TestContext.Current.CancellationToken;
        await SiteChange.ResetAsync(Database);
        await MirrorLoad.LoadAsync(Database, sharded: true);
        var sharded = Database.ClickHouse!;
        var single = await TestClickHouse.MirrorAsync(Database, sharded: false, ct);
        try
        {
            await single.LoadAsync(Database.DataSource, ct);
            foreach (var node in sharded.Client.Options.Nodes)
            {
                using var shard = new ClickHouseClient(sharded.Client.Options, node);
                var rows = await shard.QueryAsync($"SELECT count() FROM {Database.Name}.versions", ct);
                Assert.True(long.Parse(rows[0][0], System.Globalization.CultureInfo.InvariantCulture) > 0, $"the shard at {node} holds no versions");
            }
            var models = Enumerable.Range(1, 6).ToArray();
            Assert.Equal(await PairsAsync(single, models), await PairsAsync(sharded, models));
        }
        finally
        {
            await TestClickHouse.DropAsync(single);
        }
    }

    /// <summary>The pairs a mirror computes for <paramref name="models"/>, as the write path would get them, in order.</summary>
    private async Task<string> PairsAsync(ClickHouseMirror mirror, int[] models)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var connection = await Database.DataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await mirror.WriteModelsAsync(connection, transaction, models, ct);
        await using var read = new Npgsql.NpgsqlCommand("""
            SELECT string_agg(concat_ws(' ', "modelId", "baseModel", "thumbsUpCount", "downloadCount", "imageCount"), ';' ORDER BY "modelId", "baseModel")
            FROM "ModelBaseModelMetric"
            """, connection, transaction);
        var pairs = (string)(await read.ExecuteScalarAsync(ct))!;
        await transaction.RollbackAsync(ct);
        return pairs;
    }
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
