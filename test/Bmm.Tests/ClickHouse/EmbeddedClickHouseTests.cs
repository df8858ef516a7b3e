using System.Text;
using Bmm.ClickHouse;
using Bmm.Configuration;
using Bmm.Database;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmm.Tests.ClickHouse;

/// <summary>
/// The private ClickHouse servers bmm starts when given no ClickHouse:Url, and the HTTP client
/// against them: credentials, TSV escaping both ways, external tables, and the two-shard cluster.
/// The shared servers of the project's .bmm/ are used in a database of this class's own; the
/// restart test has servers of its own, so that the other classes' server is never stopped.
/// </summary>
public sealed class EmbeddedClickHouseTests
{
    private const string Database = "embedded_tests";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_server_starts_answers_with_its_password_and_a_second_call_reuses_it()
    {
        var options = await EmbeddedClickHouse.EnsureAsync(NullLogger.Instance, Ct);
        Assert.StartsWith("http://127.0.0.1:", options.Url);
        Assert.Equal("bmm", options.User);
        Assert.Equal("bmm", options.Database);
        Assert.Null(options.Cluster);
        Assert.Null(options.Problem());
        using var client = new ClickHouseClient(options);
        Assert.Equal([["1"]], await client.QueryAsync("SELECT 1", Ct));
        Assert.Equal([["1"]], await client.QueryAsync("SELECT count() FROM system.databases WHERE name = 'bmm'", Ct));

        var again = await EmbeddedClickHouse.EnsureAsync(NullLogger.Instance, Ct);
        Assert.Equal(options.Url, again.Url);
        Assert.Equal(options.Password, again.Password);
    }

    [Fact]
    public async Task A_wrong_password_is_refused_with_code_193()
    {
        var options = await EmbeddedClickHouse.EnsureAsync(NullLogger.Instance, Ct);
        using var client = new ClickHouseClient(new ClickHouseOptions { Url = options.Url, User = options.User, Password = options.Password + "x" });
        var refused = await Assert.ThrowsAsync<ClickHouseException>(() => client.QueryAsync("SELECT 1", Ct));
        Assert.Equal(193, refused.Code);
        Assert.DoesNotContain(options.Password, refused.Message);
    }

    /// <summary>Every character TSV escapes, the ones ClickHouse escapes on output (quotes, \b, \f), and TSV's NULL marker.</summary>
    public static readonly string[] HostileStrings =
    [
        "it's", "say \"hi\"", @"back\slash", @"\N", "tab\there", "new\nline", "carriage\rreturn", "crlf\r\n",
        "emoji 🦀👍🏽", "nul\0byte", "\b\f\v", @"trailing\", "", "'", "\\'", "\t\t", "ünïcødé 中文",
    ];

    [Fact]
    public async Task Hostile_strings_round_trip_through_a_tsv_insert_and_a_query_byte_for_byte()
    {
        using var client = await ClientAsync();
        await client.ExecuteAsync($"DROP TABLE IF EXISTS {Database}.hostile", Ct);
        await client.ExecuteAsync($"CREATE TABLE {Database}.hostile (id Int32, s String) ENGINE = MergeTree ORDER BY id", Ct);
        await client.InsertTsvAsync($"{Database}.hostile", "id, s", stream => WriteRowsAsync(stream, HostileStrings), Ct);

        // Read back as text (the client's unescaping) and as hex (what the server stored).
        var rows = await client.QueryAsync($"SELECT id, s, hex(s) FROM {Database}.hostile ORDER BY id", Ct);
        Assert.Equal(HostileStrings.Length, rows.Count);
        for (var i = 0; i < HostileStrings.Length; i++)
        {
            Assert.Equal(i.ToString(System.Globalization.CultureInfo.InvariantCulture), rows[i][0]);
            Assert.Equal(HostileStrings[i], rows[i][1]);
            Assert.Equal(Convert.ToHexString(Encoding.UTF8.GetBytes(HostileStrings[i])), rows[i][2]);
        }
    }

    [Fact]
    public async Task An_external_table_of_ids_filters_a_query()
    {
        using var client = await ClientAsync();
        await client.ExecuteAsync($"DROP TABLE IF EXISTS {Database}.filtered", Ct);
        await client.ExecuteAsync($"CREATE TABLE {Database}.filtered (id Int32, s String) ENGINE = MergeTree ORDER BY id", Ct);
        await client.InsertTsvAsync($"{Database}.filtered", "id, s",
            stream => WriteRowsAsync(stream, [.. Enumerable.Range(0, 100).Select(i => $"row {i}")]), Ct);

        var rows = await client.QueryAsync($"SELECT id, s FROM {Database}.filtered WHERE id IN ids ORDER BY id", Ct,
            new ExternalTable("ids", "id", "Int32", ["3", "50", "77", "1000"]));
        Assert.Equal([["3", "row 3"], ["50", "row 50"], ["77", "row 77"]], rows);

        var none = await client.QueryAsync($"SELECT count() FROM {Database}.filtered WHERE id IN ids", Ct,
            new ExternalTable("ids", "id", "Int32", []));
        Assert.Equal([["0"]], none);
    }

    [Fact]
    public async Task The_cluster_shards_rows_inserted_through_a_distributed_table_over_both_servers()
    {
        var nodes = await EmbeddedClickHouse.EnsureClusterNodesAsync(NullLogger.Instance, Ct);
        Assert.Equal(2, nodes.Count);
        Assert.All(nodes, node => Assert.Equal(EmbeddedClickHouse.ClusterName, node.Cluster));
        Assert.NotEqual(nodes[0].Url, nodes[1].Url);
        Assert.Equal(nodes[0].Password, nodes[1].Password);
        Assert.Equal(nodes[0].Url, (await EmbeddedClickHouse.EnsureClusterAsync(NullLogger.Instance, Ct)).Url);

        var clients = nodes.Select(node => new ClickHouseClient(node)).ToArray();
        try
        {
            foreach (var client in clients)
            {
                await client.ExecuteAsync($"CREATE DATABASE IF NOT EXISTS {Database}", Ct);
                await client.ExecuteAsync($"DROP TABLE IF EXISTS {Database}.sharded", Ct);
                await client.ExecuteAsync($"DROP TABLE IF EXISTS {Database}.sharded_local", Ct);
                await client.ExecuteAsync($"CREATE TABLE {Database}.sharded_local (id Int32, s String) ENGINE = MergeTree ORDER BY id", Ct);
                await client.ExecuteAsync($"CREATE TABLE {Database}.sharded AS {Database}.sharded_local ENGINE = Distributed({EmbeddedClickHouse.ClusterName}, {Database}, sharded_local, id)", Ct);
            }

            const int count = 1000;
            await clients[0].InsertTsvAsync($"{Database}.sharded", "id, s",
                stream => WriteRowsAsync(stream, [.. Enumerable.Range(0, count).Select(i => $"row {i}\twith a tab")]), Ct);

            var held = new List<HashSet<string>>();
            foreach (var client in clients)
                held.Add([.. (await client.QueryAsync($"SELECT id FROM {Database}.sharded_local", Ct)).Select(row => row[0])]);
            Assert.All(held, shard => Assert.NotEmpty(shard));
            Assert.Empty(held[0].Intersect(held[1]));
            Assert.Equal(count, held[0].Count + held[1].Count);

            // Through the Distributed table of either server: every row once, strings intact.
            foreach (var client in clients)
            {
                var totals = await client.QueryAsync($"SELECT count(), uniqExact(id), sum(id), countIf(s = concat('row ', toString(id), '\\twith a tab')) FROM {Database}.sharded", Ct);
                Assert.Equal([[$"{count}", $"{count}", $"{count * (count - 1) / 2}", $"{count}"]], totals);
            }
        }
        finally
        {
            foreach (var client in clients) client.Dispose();
        }
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_stopped_server_starts_again_on_its_ports_with_its_data_and_its_secrets_are_the_owners_alone()
    {
        var baseDirectory = Path.Combine(Path.GetTempPath(), "bmm-clickhouse-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var first = await EmbeddedClickHouse.EnsureAsync(baseDirectory, NullLogger.Instance, Ct);
            using (var client = new ClickHouseClient(first))
            {
                await client.ExecuteAsync($"CREATE DATABASE {Database}", Ct);
                await client.ExecuteAsync($"CREATE TABLE {Database}.kept (id Int32, s String) ENGINE = MergeTree ORDER BY id", Ct);
                await client.InsertTsvAsync($"{Database}.kept", "id, s", stream => WriteRowsAsync(stream, ["a", "b", "c"]), Ct);
            }

            var folder = Path.Combine(baseDirectory, EmbeddedClickHouse.ServerFolder);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(folder));
            foreach (var file in new[] { "embedded.json", "config.xml", "users.xml" })
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(folder, file)));
            Assert.Contains(first.Password, await File.ReadAllTextAsync(Path.Combine(folder, "embedded.json"), Ct));
            Assert.DoesNotContain(first.Password, await File.ReadAllTextAsync(Path.Combine(folder, "users.xml"), Ct));

            await EmbeddedClickHouse.StopAsync(baseDirectory, EmbeddedClickHouse.ServerFolder, NullLogger.Instance, Ct);
            using (var client = new ClickHouseClient(first))
            {
                var down = await Assert.ThrowsAsync<ClickHouseException>(() => client.QueryAsync("SELECT 1", Ct));
                Assert.Null(down.Code);
            }

            var second = await EmbeddedClickHouse.EnsureAsync(baseDirectory, NullLogger.Instance, Ct);
            Assert.Equal(first.Url, second.Url);
            Assert.Equal(first.Password, second.Password);
            using (var client = new ClickHouseClient(second))
                Assert.Equal([["0", "a"], ["1", "b"], ["2", "c"]], await client.QueryAsync($"SELECT id, s FROM {Database}.kept ORDER BY id", Ct));
        }
        finally
        {
            await EmbeddedClickHouse.StopAsync(baseDirectory, null, NullLogger.Instance, CancellationToken.None);
            Directory.Delete(baseDirectory, recursive: true);
        }
    }

    private static async Task<ClickHouseClient> ClientAsync()
    {
        var client = new ClickHouseClient(await EmbeddedClickHouse.EnsureAsync(NullLogger.Instance, Ct));
        await client.ExecuteAsync($"CREATE DATABASE IF NOT EXISTS {Database}", Ct);
        return client;
    }

    /// <summary>Rows (index, value) as TSV, the value escaped by the product's <see cref="Tsv"/>.</summary>
    private static async Task WriteRowsAsync(Stream stream, IReadOnlyList<string> values)
    {
        var text = new StringBuilder();
        for (var i = 0; i < values.Count; i++)
            Tsv.Append(text.Append(i).Append('\t'), values[i]).Append('\n');
        await stream.WriteAsync(Encoding.UTF8.GetBytes(text.ToString()), Ct);
    }
}
