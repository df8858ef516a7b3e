using System.Data;
using System.Reflection;
using Bmm.Refresh;
using Bmm.Schema;
using Bmm.Tests.Infrastructure;
using DbUp;
using Npgsql;

namespace Bmm.Tests.Schema;

/// <summary>
/// A live database built by the previous version of the job (a change log keyed by model, an
/// incremental state with sums of its own), with changes captured but not yet applied and a
/// writer's transaction open while `migrate` runs, moved to this version: no change is lost, and
/// every strategy ends equal to the oracle.
/// </summary>
public sealed class MigrationFromV1Tests : IAsyncLifetime
{
    private readonly string _name = "bmm_test_v1_" + Guid.NewGuid().ToString("N")[..12];
    private string _admin = "";
    private NpgsqlDataSource _dataSource = null!;
    private TestDatabase _db = null!;

    public async ValueTask InitializeAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        _admin = await TestServer.AdminConnectionStringAsync(ct);
        await using (var admin = NpgsqlDataSource.Create(_admin))
            await TestServer.ExecuteAsync(admin, $"CREATE DATABASE {_name}", ct);
        var connection = new NpgsqlConnectionStringBuilder(_admin) { Database = _name }.ConnectionString;
        _dataSource = NpgsqlDataSource.Create(connection);
        _db = TestDatabase.Attach(connection);
    }

    public async ValueTask DisposeAsync()
    {
        await _dataSource.DisposeAsync();
        await _db.DisposeAsync();
        await using var admin = NpgsqlDataSource.Create(_admin);
        await TestServer.ExecuteAsync(admin, $"DROP DATABASE IF EXISTS {_name} WITH (FORCE)", CancellationToken.None);
    }

    /// <summary>The previous version's schema: the site's, the job's scripts up to 0003, the first capture triggers and consumer.</summary>
    private async Task BuildPreviousVersionAsync(CancellationToken ct)
    {
        await TestServer.ExecuteAsync(_dataSource, "CREATE SCHEMA bmm", ct);
        string[] previous = ["Site.0001_site_schema.sql", "Job.0001_job_objects.sql", "Job.0002_incremental.sql", "Job.0003_reviews_mv.sql"];
        foreach (var script in previous)
        {
            var result = DeployChanges.To.PostgresqlDatabase(new DbUp.Postgresql.PostgresqlConnectionManager(_dataSource))
                .WithScriptsEmbeddedInAssembly(typeof(Migrator).Assembly, name => name == "Bmm.Schema.Scripts." + script)
                .JournalToPostgresqlTable("bmm", "schema_versions")
                .LogToNowhere()
                .Build()
                .PerformUpgrade();
            Assert.True(result.Successful, result.Error?.Message);
        }
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Bmm.Tests.Schema.V1.capture_triggers.sql")!;
        using var reader = new StreamReader(stream);
        await TestServer.ExecuteAsync(_dataSource, await reader.ReadToEndAsync(ct), ct);
    }

    [Fact]
    public async Task A_live_database_of_the_first_capture_format_migrates_without_losing_a_change()
    {
        var ct = TestContext.Current.CancellationToken;
        await BuildPreviousVersionAsync(ct);
        var site = new Site(_dataSource);
        for (var m = 1; m <= 7; m++)
        {
            await site.Model(m);
            await site.Version(10 * m + 1, m, "SDXL 1.0");
            await site.Version(10 * m + 2, m, "Pony");
            await site.Metric(10 * m + 1, 100 * m, m);
            await site.Review(10 * m, 10 * m + 1, userId: m);
        }
        // The previous version's state: the table exact, both consumers past every change so far
        // (at this transaction's own id; the cluster's horizon may lag behind other tests), and the
        // incremental state built by its own function (frozen in migration 0002).
        await TestServer.ExecuteAsync(_dataSource, $"""
            INSERT INTO "ModelBaseModelMetric" ("modelId", "baseModel", "thumbsUpCount", "downloadCount", "imageCount",
                "status", "availability", "nsfwLevel", "mode", "poi", "minor")
            {Bmm.Oracle.OracleSql.ExpectedFast}
            ON CONFLICT ("modelId", "baseModel") DO UPDATE SET "thumbsUpCount" = excluded."thumbsUpCount",
                "downloadCount" = excluded."downloadCount", "imageCount" = excluded."imageCount";
            INSERT INTO bmm.consumer (name, xid, model_id)
            SELECT name, pg_current_xact_id()::text::bigint, 2147483647 FROM unnest(ARRAY['setbased', 'incremental']) AS name;
            """, ct);
        await using (var connection = await _dataSource.OpenConnectionAsync(ct))
        await using (var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct))
        {
            await using (var rebuild = new NpgsqlCommand("SELECT bmm.inc_rebuild()", connection, transaction))
                await rebuild.ExecuteNonQueryAsync(ct);
            await transaction.CommitAsync(ct);
        }

        // Changes the previous version captured and neither consumer applied.
        await site.Metric(11, 999, 9);
        await site.Review(100, 22, userId: 50);
        await TestServer.ExecuteAsync(_dataSource, """UPDATE "ModelVersion" SET "modelId" = 4 WHERE "id" = 31""", ct);
        await site.EditModel(5, "Published", 7);
        // And a writer whose transaction is open when migrate starts: migrate waits for it.
        await using var writerConnection = await _dataSource.OpenConnectionAsync(ct);
        await using var writer = await writerConnection.BeginTransactionAsync(ct);
        await using (var write = new NpgsqlCommand("""UPDATE "ModelVersionMetric" SET "downloadCount" = 1 WHERE "modelVersionId" = 61""", writerConnection, writer))
            await write.ExecuteNonQueryAsync(ct);
        var migrating = Migrator.MigrateAsync(_dataSource, withSiteSchema: false, ct);
        await Task.Delay(500, ct);
        Assert.False(migrating.IsCompleted, "migrate did not wait for the writer's transaction");
        await writer.CommitAsync(ct);
        var report = await migrating;
        Assert.Equal(["Job.0004_capture_v2.sql", "Job.0005_run_history_running.sql", "Job.0006_clickhouse.sql", "Job.0007_sweep_plan.sql", "Job.0008_sweep_every_model.sql"], report.ScriptsApplied);

        var queued = await _db.ScalarAsync<int[]>("SELECT array_agg(model_id ORDER BY model_id) FROM bmm.model_queue");
        Assert.Equal([1, 2, 3, 4, 5, 6], queued);
        Assert.False(await _db.ScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM bmm.consumer WHERE name = 'incremental')"));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM bmm.change_log"));
        Assert.True(await _db.ScalarAsync<bool>("SELECT to_regclass('bmm.inc_pair') IS NULL"));

        // A change of the new format, then each strategy.
        await site.Metric(71, 5, 5);
        Assert.Equal("m 71 -695 -2", await _db.ScalarAsync<string>("SELECT concat_ws(' ', kind, row_id, downloads, images) FROM bmm.change_log"));
        Assert.Equal(RunOutcome.Succeeded, (await _db.RunAsync("setbased")).Outcome);
        await _db.AssertMatchesOracleAsync("setbased after the migration");
        await site.Review(101, 12, userId: 51);
        Assert.Equal(RunOutcome.Succeeded, (await _db.RunAsync("incremental")).Outcome);
        await _db.AssertMatchesOracleAsync("incremental after the migration");
        await _db.AssertIncrementalStateMatchesAsync("incremental after the migration");
    }
}
