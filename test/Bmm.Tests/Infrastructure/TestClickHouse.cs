using Bmm.ClickHouse;
using Bmm.Configuration;
using Bmm.Database;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmm.Tests.Infrastructure;

/// <summary>
/// The embedded ClickHouse the tests share (one server, and a cluster of two shards), with a
/// ClickHouse database per test database, so classes run side by side.
/// </summary>
public static class TestClickHouse
{
    /// <summary>A mirror for <paramref name="db"/> on the single server or, when <paramref name="sharded"/>, on the two-shard cluster.</summary>
    public static async Task<ClickHouseMirror> MirrorAsync(TestDatabase db, bool sharded, CancellationToken cancellationToken)
    {
        ClickHouseOptions options;
        if (sharded)
        {
            var nodes = await EmbeddedClickHouse.EnsureClusterNodesAsync(NullLogger.Instance, cancellationToken);
            options = nodes[0];
            options.Url = string.Join(",", nodes.Select(n => n.Url));
        }
        else options = await EmbeddedClickHouse.EnsureAsync(NullLogger.Instance, cancellationToken);
        options.Database = db.Name;
        return new ClickHouseMirror(new ClickHouseClient(options), NullLogger.Instance);
    }

    /// <summary>Drops the mirror's database on every node (a test database's clean-up).</summary>
    public static async Task DropAsync(ClickHouseMirror mirror)
    {
        foreach (var node in mirror.Client.Options.Nodes)
        {
            using var client = new ClickHouseClient(mirror.Client.Options, node);
            await client.ExecuteAsync($"DROP DATABASE IF EXISTS {mirror.Client.Options.Database}", CancellationToken.None);
        }
        mirror.Client.Dispose();
    }
}
