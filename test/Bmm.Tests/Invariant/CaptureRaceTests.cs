using Bmm.Refresh;
using Bmm.Tests.Infrastructure;
using Npgsql;

namespace Bmm.Tests.Invariant;

/// <summary>
/// The capture race of the first change log, by name: a version moves to another model while an
/// open transaction writes its metric and one of its reviews, seeing the version where it was; a
/// run lands between the two commits. Once both have committed and the strategy has run again,
/// the new owner's row must hold the version's downloads, images and reviewers. The capture logs
/// the version, not the model its writer saw, and the strategies map it to its model when they
/// apply it.
/// </summary>
public sealed class CaptureRaceTests : FreshDatabaseTest
{
    [Theory]
    [InlineData("setbased", true)]
    [InlineData("setbased", false)]
    [InlineData("incremental", true)]
    [InlineData("incremental", false)]
    [InlineData("clickhouse", true)]
    [InlineData("clickhouse", false)]
    public async Task A_version_moved_to_another_model_while_an_open_transaction_writes_its_metric_and_a_review(string strategy, bool moveTakesItsXidFirst)
    {
        var ct = TestContext.Current.CancellationToken;
        await Site.Model(1);
        await Site.Model(2);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Version(21, 2, "SDXL 1.0");
        await Site.Metric(11, 100, 10);
        await Site.Metric(21, 5, 1);
        await Site.Review(1, 11, userId: 7);
        await Site.Review(2, 21, userId: 9);
        await RunAsync(strategy, "before");
        await Db.AssertMatchesOracleAsync("before");

        await using var writerConnection = await Db.DataSource.OpenConnectionAsync(ct);
        await using var moverConnection = await Db.DataSource.OpenConnectionAsync(ct);
        await using var writer = await writerConnection.BeginTransactionAsync(ct);
        await using var mover = await moverConnection.BeginTransactionAsync(ct);
        const string Move = """UPDATE "ModelVersion" SET "modelId" = 2 WHERE "id" = 11""";
        if (moveTakesItsXidFirst) await ExecuteAsync(mover, Move);
        await ExecuteAsync(writer, """UPDATE "ModelVersionMetric" SET "downloadCount" = 500, "imageCount" = 50 WHERE "modelVersionId" = 11""");
        if (!moveTakesItsXidFirst) await ExecuteAsync(mover, Move);
        // The writer's statement does not see the uncommitted move: for it, version 11 is model 1's.
        await ExecuteAsync(writer, """
            INSERT INTO "ResourceReview" ("id", "modelId", "modelVersionId", "userId", "rating") VALUES (3, 1, 11, 8, 5)
            """);
        await mover.CommitAsync(ct);
        await RunAsync(strategy, "between the commits");
        await writer.CommitAsync(ct);
        await RunAsync(strategy, "after both");

        await Db.AssertMatchesOracleAsync("after both");
        if (strategy == "incremental") await Db.AssertIncrementalStateMatchesAsync("after both");
        Assert.Equal("505 51 3", await Db.ScalarAsync<string>("""
            SELECT concat_ws(' ', "downloadCount", "imageCount", "thumbsUpCount") FROM "ModelBaseModelMetric" WHERE "modelId" = 2 AND "baseModel" = 'SDXL 1.0'
            """));
        Assert.Equal(0, await Db.ScalarAsync<long>("""SELECT count(*) FROM "ModelBaseModelMetric" WHERE "modelId" = 1"""));
    }

    /// <summary>
    /// The site's publish trigger inserts a pair's row with the model's columns as its writer sees
    /// them; a model edit that commits before that writer does cannot see the row to update it.
    /// The edit's own change is applied while the publisher is still open (its transaction id is
    /// older), so only the version's change, applied later, can bring the row the model's columns.
    /// Found by the generated concurrent invariant (seed be0kE2rzOYZ1) for incremental.
    /// </summary>
    [Theory]
    [InlineData("setbased")]
    [InlineData("incremental")]
    [InlineData("clickhouse")]
    public async Task A_version_published_while_an_edit_of_its_model_commits_gets_the_models_columns(string strategy)
    {
        var ct = TestContext.Current.CancellationToken;
        await Site.Model(3);
        await Site.Version(30, 3, "SDXL 1.0");
        await Site.Metric(30, 10, 1);
        await RunAsync(strategy, "before");

        await using var editorConnection = await Db.DataSource.OpenConnectionAsync(ct);
        await using var publisherConnection = await Db.DataSource.OpenConnectionAsync(ct);
        await using var editor = await editorConnection.BeginTransactionAsync(ct);
        await using var publisher = await publisherConnection.BeginTransactionAsync(ct);
        await ExecuteAsync(editor, "SELECT pg_current_xact_id()");
        await ExecuteAsync(publisher, """INSERT INTO "ModelVersion" ("id", "modelId", "name", "baseModel", "status") VALUES (31, 3, 'v', 'Pony', 'Published')""");
        await ExecuteAsync(editor, """UPDATE "Model" SET "status" = 'Draft', "nsfwLevel" = 9 WHERE "id" = 3""");
        await editor.CommitAsync(ct);
        await RunAsync(strategy, "between the commits");
        await publisher.CommitAsync(ct);
        await RunAsync(strategy, "after both");

        await Db.AssertMatchesOracleAsync("after both");
        if (strategy == "incremental") await Db.AssertIncrementalStateMatchesAsync("after both");
        Assert.Equal("Draft 9", await Db.ScalarAsync<string>("""
            SELECT concat_ws(' ', "status", "nsfwLevel") FROM "ModelBaseModelMetric" WHERE "modelId" = 3 AND "baseModel" = 'Pony'
            """));
    }

    private async Task RunAsync(string strategy, string step)
    {
        var report = await Db.RunAsync(strategy);
        Assert.True(report.Outcome == RunOutcome.Succeeded, $"{step}: {report.Outcome} {report.Error}");
    }

    private static async Task ExecuteAsync(NpgsqlTransaction transaction, string sql)
    {
        await using var command = new NpgsqlCommand(sql, transaction.Connection, transaction);
        await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
    }
}
