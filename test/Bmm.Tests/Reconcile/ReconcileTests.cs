using Bmm.Reconcile;
using Bmm.Strategies;
using Bmm.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmm.Tests.Reconcile;

/// <summary>Continuous reconciliation: drift in the table or in the incremental state is found, counted and repaired; pending changes are not drift.</summary>
public sealed class ReconcileTests : FreshDatabaseTest
{
    private Reconciler Reconciler => new(Db.DataSource, Db.Options, NullLogger.Instance, Db.Metrics);

    private async Task PopulateAsync(string strategy)
    {
        await Site.Model(1);
        await Site.Model(2);
        await Site.Version(11, 1, "SDXL 1.0");
        await Site.Version(12, 1, "Pony");
        await Site.Version(21, 2, "Pony");
        await Site.Metric(11, 100, 10);
        await Site.Metric(21, 7, 1);
        await Site.Review(1, 11, userId: 7);
        await Site.Review(2, 11, userId: 8);
        await Site.Review(3, 21, userId: 7);
        await Db.RunAsync(strategy);
        await Db.AssertMatchesOracleAsync("populated");
    }

    /// <summary>With a few models, one slice covers them all and wraps the cursor.</summary>
    private Task<ReconcileReport> CheckAsync(string strategy) =>
        Reconciler.CheckNextSliceAsync(StrategyCatalog.Create(strategy), TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

    [Fact]
    public async Task Drift_in_the_table_and_in_the_incremental_state_is_found_and_repaired()
    {
        await PopulateAsync("incremental");
        await Db.ExecuteAsync("""UPDATE "ModelBaseModelMetric" SET "thumbsUpCount" = 99 WHERE "modelId" = 2""");
        await Db.ExecuteAsync("UPDATE bmm.inc_thumb SET reviews = 3 WHERE model_id = 1 AND user_id = 7");
        await Db.ExecuteAsync("DELETE FROM bmm.inc_version WHERE version_id = 12");
        await Db.ExecuteAsync("INSERT INTO bmm.inc_overflow (model_id, base_model, downloads, images) VALUES (1, 'SDXL 1.0', 5000000000, 10)");

        var report = await CheckAsync("incremental");
        Assert.True(report.Wrapped);
        Assert.Equal([1, 2], report.Drift.Select(d => d.ModelId).Distinct().Order());
        Assert.Contains(report.Drift, d => d is { ModelId: 2, Kind: "table" });
        Assert.Contains(report.Drift, d => d is { ModelId: 1, Kind: "multiplicity" });
        Assert.Contains(report.Drift, d => d is { ModelId: 1, Kind: "version" });
        Assert.Contains(report.Drift, d => d is { ModelId: 1, Kind: "overflow" });
        Assert.True(report.RowsRepaired > 0);

        await Db.AssertMatchesOracleAsync("after the repair");
        await Db.AssertIncrementalStateMatchesAsync("after the repair");
        Assert.Empty((await CheckAsync("incremental")).Drift);
        Assert.Equal(2, await Db.ScalarAsync<long>("SELECT drifted_models FROM bmm.reconcile_cursor WHERE consumer = 'incremental'"));
    }

    [Fact]
    public async Task Changes_captured_but_not_yet_applied_are_pending_not_drift()
    {
        await PopulateAsync("incremental");
        await Site.Review(4, 21, userId: 9);
        await Site.Metric(11, 5, 5);
        Assert.Empty((await CheckAsync("incremental")).Drift);
        await Db.RunAsync("incremental");
        await Db.AssertMatchesOracleAsync("applied");
        Assert.Empty((await CheckAsync("incremental")).Drift);
    }

    [Fact]
    public async Task The_setbased_table_is_reconciled_too()
    {
        await PopulateAsync("setbased");
        await Db.ExecuteAsync("""DELETE FROM "ModelBaseModelMetric" WHERE "modelId" = 1 AND "baseModel" = 'Pony'""");
        var report = await CheckAsync("setbased");
        Assert.Equal([new DriftedModel(1, "table", report.Drift.Single().Sample)], report.Drift);
        Assert.Contains("no row", report.Drift.Single().Sample);
        await Db.AssertMatchesOracleAsync("after the repair");
    }

    [Fact]
    public async Task Slices_walk_the_model_ids_and_wrap()
    {
        for (var id = 1; id <= 1_200; id++) await Db.ExecuteAsync($"""INSERT INTO "Model" ("id", "name", "userId", "status") VALUES ({id}, 'm', 1, 'Published')""");
        await Db.RunAsync("incremental");
        // A pass of 1,200 models in 30-second slices over 24 hours asks for the minimum slice, 500 models.
        var first = await CheckAsync("incremental");
        var second = await CheckAsync("incremental");
        var third = await CheckAsync("incremental");
        Assert.Equal((0, 501, false), (first.Low, first.High, first.Wrapped));
        Assert.Equal((501, 1001, false), (second.Low, second.High, second.Wrapped));
        Assert.Equal((1001, true), (third.Low, third.Wrapped));
        Assert.Equal(0, (await CheckAsync("incremental")).Low);
    }

    [Fact]
    public async Task Verify_repair_on_a_database_kept_by_incremental_repairs_its_state_too()
    {
        await PopulateAsync("incremental");
        await Db.ExecuteAsync("""UPDATE "ModelBaseModelMetric" SET "imageCount" = 0 WHERE "modelId" = 1""");
        var report = await Bmm.Oracle.Verifier.VerifyAsync(Db.DataSource, StrategyCatalog.Create("incremental"), Db.Options, NullLogger.Instance, Db.Metrics, TestContext.Current.CancellationToken);
        Assert.True(report.Wrong > 0);
        await Db.AssertMatchesOracleAsync("after verify --repair");
        await Db.AssertIncrementalStateMatchesAsync("after verify --repair");
    }
}
