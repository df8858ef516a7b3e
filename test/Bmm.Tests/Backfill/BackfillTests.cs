using Bmm.Backfill;
using Bmm.Cli;
using Bmm.Configuration;
using Bmm.Refresh;
using Bmm.Strategies;
using Bmm.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmm.Tests.Backfill;

/// <summary>bmm backfill rebuilds the whole table in batches and removes the rows of deleted models.</summary>
public sealed class BackfillTests : IAsyncLifetime
{
    /// <summary>
    /// 400 models (ids 5, 10, ..., 2000) with one to six versions over five base models, some
    /// not Published, some without a metric row, and reviews of every kind, some users reviewing
    /// several versions of one model.
    /// </summary>
    private const string SeedSql = """
        SELECT setseed(0.17);
        INSERT INTO "Model" ("id", "name", "userId", "status", "nsfwLevel", "poi")
        SELECT g * 5, 'm' || g, g % 7, (CASE WHEN random() < 0.9 THEN 'Published' ELSE 'Draft' END)::"ModelStatus",
               1 + floor(random() * 8)::int, random() < 0.05
        FROM generate_series(1, 400) g;
        INSERT INTO "ModelVersion" ("id", "modelId", "name", "baseModel", "status")
        SELECT row_number() OVER (), m."id", 'v', (ARRAY['SDXL 1.0', 'Pony', 'Illustrious', 'Flux.1 D', 'SD 1.5'])[1 + floor(random() * 5)::int],
               (CASE WHEN random() < 0.85 THEN 'Published' ELSE 'Unpublished' END)::"ModelStatus"
        FROM "Model" m CROSS JOIN LATERAL generate_series(1, 1 + (m."id" * 7919 % 6)) s;
        INSERT INTO "ModelVersionMetric" ("modelVersionId", "downloadCount", "imageCount")
        SELECT "id", floor(random() * 10000)::int, floor(random() * 300)::int FROM "ModelVersion" WHERE random() < 0.9;
        INSERT INTO "ResourceReview" ("id", "modelId", "modelVersionId", "userId", "rating", "recommended", "exclude", "tosViolation")
        SELECT row_number() OVER (), v."modelId", v."id", u, 5, random() < 0.8, random() < 0.05, random() < 0.05
        FROM "ModelVersion" v CROSS JOIN LATERAL generate_series(1, 1 + v."id" % 9) u;
        """;

    private TestDatabase _db = null!;

    public async ValueTask InitializeAsync()
    {
        _db = await TestDatabase.CreateAsync(TestContext.Current.CancellationToken);
        await _db.ExecuteAsync(SeedSql);
    }

    public ValueTask DisposeAsync() => _db.DisposeAsync();

    private Task<BackfillReport> BackfillAsync(int batchModels, IProgress<BackfillProgress>? progress = null) =>
        Backfiller.RunAsync(_db.DataSource, _db.Options, batchModels, progress, StrategyCatalog.All, NullLogger.Instance, _db.Metrics, TestContext.Current.CancellationToken);

    [Fact]
    public async Task Backfill_of_the_emptied_table_restores_it_exactly_and_a_second_one_writes_nothing()
    {
        await _db.ExecuteAsync("""TRUNCATE "ModelBaseModelMetric" """);
        var reports = new List<BackfillProgress>();
        var report = await BackfillAsync(37, new SynchronousProgress(reports.Add));
        await _db.AssertMatchesOracleAsync("after the backfill");

        var rows = await _db.ScalarAsync<long>("""SELECT count(*) FROM "ModelBaseModelMetric" """);
        Assert.True(rows > 400);
        Assert.Equal(400, report.Models);
        Assert.Equal(11, report.Batches); // 400 models in batches of 37
        Assert.Equal((rows, 0L, 0L, 0L), (report.Inserted, report.Updated, report.Deleted, report.Unchanged));
        Assert.Contains(reports, p => p is { Phase: "models", ModelsDone: 400, ModelsTotal: 400 });

        var again = await BackfillAsync(Backfiller.DefaultBatchModels);
        Assert.Equal((0L, 0L, 0L, rows), (again.Inserted, again.Updated, again.Deleted, again.Unchanged));
        Assert.Equal(1, again.Batches);
    }

    [Fact]
    public async Task Backfill_repairs_wrong_rows_and_removes_rows_of_deleted_models_and_of_stale_pairs()
    {
        // The site's publish trigger gave every pair a zero row: wrong counts to repair.
        Assert.True((await _db.VerifyAsync()).Wrong > 0);
        var first = await BackfillAsync(100);
        Assert.True(first.Updated > 0);
        await _db.AssertMatchesOracleAsync("after the first backfill");

        // Hard deletes (cascading to versions, metrics, reviews) leave the models' rows behind:
        // there is no foreign key. Also rows of a model id that never existed, before and after
        // the last model, a stale pair of a live model, and a wrong count.
        var orphanRows = await _db.ScalarAsync<long>("""SELECT count(*) FROM "ModelBaseModelMetric" WHERE "modelId" IN (5, 1000, 2000)""");
        Assert.True(orphanRows >= 3);
        await _db.ExecuteAsync("""
            DELETE FROM "Model" WHERE "id" IN (5, 1000, 2000);
            INSERT INTO "ModelBaseModelMetric" ("modelId", "baseModel", "thumbsUpCount", "status", "availability")
            VALUES (3, 'Pony', 4, 'Published', 'Public'), (999999, 'SDXL 1.0', 1, 'Published', 'Public'),
                   (10, 'Nonesuch', 2, 'Published', 'Public');
            UPDATE "ModelBaseModelMetric" SET "downloadCount" = "downloadCount" + 1
            WHERE ("modelId", "baseModel") = (SELECT "modelId", "baseModel" FROM "ModelBaseModelMetric" WHERE "modelId" = 15 LIMIT 1);
            """);
        Assert.NotEqual(0L, (await _db.VerifyAsync()).Drift);

        var report = await BackfillAsync(50);
        await _db.AssertMatchesOracleAsync("after the second backfill");
        Assert.Equal(397, report.Models);
        Assert.Equal(5, report.OrphanModels); // 3, 5, 1000, 2000, 999999
        Assert.Equal(orphanRows + 3, report.Deleted); // the deleted models' rows, 3, 999999 and the stale pair of 10
        Assert.Equal(1, report.Updated);
        Assert.Equal(0, report.Inserted);
    }

    [Fact]
    public async Task Backfill_refuses_while_another_runner_holds_the_lock()
    {
        await using var held = await RunnerLock.TryAcquireAsync(_db.DataSource, TestContext.Current.CancellationToken);
        Assert.NotNull(held);
        var error = await Assert.ThrowsAsync<UsageException>(() => BackfillAsync(100));
        Assert.Contains("holds the runner lock", error.Message, StringComparison.Ordinal);
        var exitCode = await CliApp.RunAsync(["backfill", "--connection", _db.ConnectionString], TextWriter.Null, TestContext.Current.CancellationToken);
        Assert.Equal(ExitCodes.Usage, exitCode);
    }

    [Fact]
    public async Task The_command_line_backfill_restores_the_table_and_rejects_a_bad_batch_size()
    {
        Assert.Equal(ExitCodes.Usage, await CliApp.RunAsync(["backfill", "--connection", _db.ConnectionString, "--batch-models", "0"],
            TextWriter.Null, TestContext.Current.CancellationToken));
        await _db.ExecuteAsync("""TRUNCATE "ModelBaseModelMetric" """);
        Assert.Equal(ExitCodes.Success, await CliApp.RunAsync(["backfill", "--connection", _db.ConnectionString, "--batch-models", "150"],
            TextWriter.Null, TestContext.Current.CancellationToken));
        await _db.AssertMatchesOracleAsync("after bmm backfill");
    }

    private sealed class SynchronousProgress(Action<BackfillProgress> report) : IProgress<BackfillProgress>
    {
        public void Report(BackfillProgress value) => report(value);
    }
}
