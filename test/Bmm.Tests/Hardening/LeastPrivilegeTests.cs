using System.Collections.Concurrent;
using Bmm.Tests.Infrastructure;
using Npgsql;

namespace Bmm.Tests.Hardening;

/// <summary>
/// The job under a role holding exactly the GRANTs migrate prints, and the site's writers under a
/// role holding only theirs (beside the site's own), for as long as the transaction counter runs:
/// across several new change-log ranges, whose partitions only the log's owner may create.
/// The ranges are made 200 transaction ids wide here (the product's are 2^20), so that a test
/// crosses them in a second.
/// </summary>
public sealed class LeastPrivilegeTests : FreshDatabaseTest
{
    private const int RangeWidth = 200;
    private const string Password = "least-privilege";
    // Names that must be quoted, one with a double quote in it.
    private readonly string _jobRole = $"bmm \"job\" {Guid.NewGuid().ToString("N")[..6]}";
    private readonly string _writerRole = $"site writer {Guid.NewGuid().ToString("N")[..6]}";

    [Fact]
    public async Task Every_command_runs_under_the_printed_grants_across_new_change_log_ranges()
    {
        var ct = TestContext.Current.CancellationToken;
        await Db.ExecuteAsync($"""
            CREATE ROLE {Quote(_jobRole)} LOGIN PASSWORD '{Password}';
            CREATE ROLE {Quote(_writerRole)} LOGIN PASSWORD '{Password}';
            -- The site's own grants to its writers, which are not the job's business.
            GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {Quote(_writerRole)};
            """);

        var migrate = await BmmProcess.RunAsync(Db.ConnectionString, "migrate", "--job-role", _jobRole, "--writer-role", _writerRole);
        Assert.True(migrate.ExitCode == 0, migrate.ToString());
        var grants = migrate.Output.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("GRANT ") || l.StartsWith("ALTER DEFAULT PRIVILEGES ")).ToList();
        Assert.Contains(grants, g => g.Contains(Quote(_jobRole)));
        Assert.Contains(grants, g => g.Contains(Quote(_writerRole)));
        foreach (var grant in grants) await Db.ExecuteAsync(grant);
        // After migrate, which brings the product's range width back with its functions.
        await NarrowTheRangesAsync();

        var job = ConnectionAs(_jobRole);
        await using var writerSource = NpgsqlDataSource.Create(ConnectionAs(_writerRole));
        var writer = new Site(writerSource);
        var firstRange = await CurrentRangeAsync();

        for (var round = 0; round < 3; round++)
        {
            await WriteRoundAsync(writer, round);
            await ConsumeTransactionIdsAsync(RangeWidth + 50);
            foreach (var strategy in new[] { "phase1", "reviews-mv", "setbased", "incremental", "clickhouse" })
                await ExpectSuccessAsync(job, "run", "--strategy", strategy);
            await ExpectSuccessAsync(job, "verify");
            await ExpectSuccessAsync(job, "status");
            await ExpectSuccessAsync(job, "enqueue", (1 + round).ToString());
        }
        await ExpectSuccessAsync(job, "pause");
        await ExpectSuccessAsync(job, "resume");
        await ExpectSuccessAsync(job, "backfill");
        await ExpectSuccessAsync(job, "verify", "--repair");
        await ExpectSuccessAsync(job, "drop-consumer", "reviews-mv");

        // follow creates the ranges ahead and discards the consumed ones as the counter moves.
        var errors = new ConcurrentQueue<string>();
        using (var follower = BmmProcess.Start(job, new Dictionary<string, string> { ["BMM_Follow__MaintenanceSeconds"] = "0.2", ["BMM_Follow__MetricsUrl"] = "" }, errors, "follow"))
        {
            for (var round = 3; round < 5; round++)
            {
                await WriteRoundAsync(writer, round);
                await ConsumeTransactionIdsAsync(RangeWidth + 50);
            }
            await WriteRoundAsync(writer, 5);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            // Round 5's model has rows once the follower applied it; the ranges ahead exist once its maintenance ran.
            while (await Db.ScalarAsync<long>("""SELECT count(*) FROM "ModelBaseModelMetric" WHERE "modelId" = 105""") < 2
                   || await PartitionCountAsync($"bucket >= {await CurrentRangeAsync() + 2}") == 0)
            {
                Assert.True(DateTime.UtcNow < deadline && !follower.HasExited,
                    "follow under the job's role did not apply the last change or create the ranges ahead:\n" + string.Join("\n", errors));
                await Task.Delay(100, ct);
            }
            follower.Kill(entireProcessTree: true);
            await follower.WaitForExitAsync(ct);
        }
        Assert.DoesNotContain(errors, line => line.Contains("permission denied", StringComparison.OrdinalIgnoreCase) || line.Contains("must be owner", StringComparison.OrdinalIgnoreCase));

        var lastRange = await CurrentRangeAsync();
        Assert.True(lastRange >= firstRange + 4, $"the test crossed only {lastRange - firstRange} ranges");
        Assert.True(await PartitionCountAsync($"bucket > {firstRange + 1}") >= 3, "the job's role created no partition for the new ranges");
        Assert.Equal(0, await PartitionCountAsync($"bucket <= {firstRange}"));
        // Rows of ranges that other tests' transactions rushed past before a partition existed
        // wait in the default partition until every consumer has passed them; then they go too.
        Assert.Equal(0, await Db.ScalarAsync<long>("SELECT count(*) FROM bmm.change_log_default WHERE xid < (SELECT min(xid) FROM bmm.consumer)"));
        await Db.AssertMatchesOracleAsync("after every command under the job's role");
    }

    private async Task ExpectSuccessAsync(string connection, params string[] arguments)
    {
        // The clickhouse strategy's mirror, in bmm's own ClickHouse, in a database of this test's.
        var result = await BmmProcess.RunAsync(connection, new Dictionary<string, string> { ["BMM_ClickHouse__Database"] = Db.Name }, null, arguments);
        Assert.True(result.ExitCode == 0, $"bmm {string.Join(' ', arguments)} as the job's role: {result}");
        Assert.DoesNotContain("permission denied", result.Output + result.Error, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("must be owner", result.Output + result.Error, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Changes of every kind, as the site's writers' role.</summary>
    private static async Task WriteRoundAsync(Site writer, int round)
    {
        var model = 100 + round;
        await writer.Model(model);
        await writer.Version(1000 + round * 10, model, "SDXL 1.0");
        await writer.Version(1001 + round * 10, model, "Pony");
        await writer.Metric(1000 + round * 10, 10 + round, 2);
        await writer.Metric(1001 + round * 10, 5, 1 + round);
        await writer.Review(10_000 + round * 10, 1000 + round * 10, userId: 7);
        await writer.Review(10_001 + round * 10, 1001 + round * 10, userId: 8);
        if (round == 0) return;
        // Last round's model: a review withdrawn, a version moved, a metric changed.
        await writer.UpdateReview(10_000 + (round - 1) * 10, recommended: false);
        await writer.MoveVersion(1001 + (round - 1) * 10, "Flux.1 D");
        await writer.Metric(1000 + (round - 1) * 10, 99, 9);
    }

    /// <summary>The log's partitions dropped (it is empty) and ranges of <see cref="RangeWidth"/> ids from here on.</summary>
    private async Task NarrowTheRangesAsync()
    {
        Assert.Equal(0, await Db.ScalarAsync<long>("SELECT count(*) FROM bmm.change_log"));
        await Db.ExecuteAsync($$"""
            DO $$
            DECLARE part TEXT;
            BEGIN
                FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                            WHERE i.inhparent = 'bmm.change_log'::regclass AND c.relname LIKE 'change\_log\_p%'
                LOOP
                    EXECUTE format('DROP TABLE bmm.%I', part);
                END LOOP;
            END;
            $$;
            CREATE OR REPLACE FUNCTION bmm.change_log_partition_width() RETURNS BIGINT LANGUAGE sql IMMUTABLE AS 'SELECT {{RangeWidth}}::bigint';
            SELECT bmm.ensure_change_log_partitions(1);
            """);
    }

    private async Task ConsumeTransactionIdsAsync(int count)
    {
        await using var connection = await Db.DataSource.OpenConnectionAsync(TestContext.Current.CancellationToken);
        for (var i = 0; i < count; i++)
        {
            await using var command = new NpgsqlCommand("SELECT pg_current_xact_id()", connection);
            await command.ExecuteScalarAsync(TestContext.Current.CancellationToken);
        }
    }

    private Task<long> CurrentRangeAsync() =>
        Db.ScalarAsync<long>($"SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint / {RangeWidth}");

    private Task<long> PartitionCountAsync(string condition) => Db.ScalarAsync<long>($"""
        SELECT count(*) FROM (
            SELECT substring(c.relname FROM 'change_log_p(\d+)')::bigint AS bucket
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'bmm.change_log'::regclass AND c.relname LIKE 'change\_log\_p%') p
        WHERE {condition}
        """);

    private string ConnectionAs(string role) =>
        new NpgsqlConnectionStringBuilder(Db.ConnectionString) { Username = role, Password = Password, Pooling = true }.ConnectionString;

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"") + "\"";

    public override async ValueTask DisposeAsync()
    {
        var clickHouse = await Bmm.Database.EmbeddedClickHouse.EnsureAsync(Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, CancellationToken.None);
        using (var client = new Bmm.ClickHouse.ClickHouseClient(clickHouse))
            await client.ExecuteAsync($"DROP DATABASE IF EXISTS {Db.Name}", CancellationToken.None);
        await base.DisposeAsync();
        await using var admin = NpgsqlDataSource.Create(await TestServer.AdminConnectionStringAsync(CancellationToken.None));
        await TestServer.ExecuteAsync(admin, $"DROP ROLE IF EXISTS {Quote(_jobRole)}; DROP ROLE IF EXISTS {Quote(_writerRole)}", CancellationToken.None);
    }
}
