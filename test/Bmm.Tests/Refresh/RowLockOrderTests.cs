using System.Diagnostics;
using Bmm.Refresh;
using Bmm.Tests.Infrastructure;
using Npgsql;

namespace Bmm.Tests.Refresh;

/// <summary>
/// The job takes its row locks in key order, as the site's trigger does when a model is edited,
/// so that the two never wait for each other in a cycle. Found under the follow benchmark's load:
/// the follower's write and a model edit deadlocked, and PostgreSQL aborted the site's edit.
/// </summary>
public sealed class RowLockOrderTests : FreshDatabaseTest
{
    private const int BaseModels = 40;

    /// <param name="onePairGoes">
    /// A version of the model is unpublished too, so that one of its pairs goes: the write path
    /// then locks the model's rows before it writes them, rather than updating them by key.
    /// </param>
    [Theory]
    [InlineData("setbased", false)]
    [InlineData("incremental", false)]
    [InlineData("reviews-mv", false)]
    [InlineData("setbased", true)]
    [InlineData("incremental", true)]
    [InlineData("reviews-mv", true)]
    public async Task A_run_blocked_on_a_models_first_row_holds_none_of_its_later_rows(string strategy, bool onePairGoes)
    {
        var ct = TestContext.Current.CancellationToken;
        await Site.Model(1);
        for (var b = 0; b < BaseModels; b++)
        {
            await Site.Version(100 + b, 1, $"B{b:00}");
            await Site.Metric(100 + b, 1, 1);
        }
        Assert.Equal(RunOutcome.Succeeded, (await Db.RunAsync(strategy)).Outcome);
        await Db.ExecuteAsync("""UPDATE "ModelVersionMetric" SET "downloadCount" = "downloadCount" + 1""");
        if (onePairGoes) await Site.SetVersionStatus(100 + BaseModels / 2, "Unpublished");

        // A site transaction holds the model's first row in key order, as its trigger would.
        await using var site = await Db.DataSource.OpenConnectionAsync(ct);
        await using var transaction = await site.BeginTransactionAsync(ct);
        await using (var first = new NpgsqlCommand("""UPDATE "ModelBaseModelMetric" SET "updatedAt" = now() WHERE "modelId" = 1 AND "baseModel" = 'B00'""", site, transaction))
            await first.ExecuteNonQueryAsync(ct);

        var run = Db.RunAsync(strategy);
        await WaitUntilARunWaitsForALockAsync(ct);

        // The site's edit goes on to the model's later rows (the one going included): none of them
        // may be held by the run.
        await using (var later = new NpgsqlCommand("""
            SELECT count(*) FROM (SELECT 1 FROM "ModelBaseModelMetric" WHERE "modelId" = 1 AND "baseModel" > 'B00' FOR UPDATE NOWAIT) locked
            """, site, transaction))
            Assert.Equal((long)BaseModels - 1, (long)(await later.ExecuteScalarAsync(ct))!);
        await transaction.CommitAsync(ct);

        Assert.Equal(RunOutcome.Succeeded, (await run).Outcome);
        await Db.AssertMatchesOracleAsync($"after {strategy} waited for the site's edit");
    }

    private async Task WaitUntilARunWaitsForALockAsync(CancellationToken cancellationToken)
    {
        var waited = Stopwatch.StartNew();
        while (await Db.ScalarAsync<long>("""
                   SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()
                   """) == 0)
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(4), "The run never waited for the site's row lock.");
            await Task.Delay(20, cancellationToken);
        }
    }
}
