using Bmm.Refresh;
using Bmm.Tests.Infrastructure;

namespace Bmm.Tests.Baselines;

/// <summary>The failure that wedged the site: more queued ids than a statement may have parameters.</summary>
public sealed class QueueParameterLimitTests : IAsyncLifetime
{
    private const int QueuedIds = 70_000;

    private TestDatabase _db = null!;

    public async ValueTask InitializeAsync() => _db = await TestDatabase.CreateAsync(TestContext.Current.CancellationToken);

    public ValueTask DisposeAsync() => _db.DisposeAsync();

    [Fact]
    public async Task Sequential_fails_past_65535_queued_ids_and_keeps_its_watermark_while_phase1_drains_the_queue()
    {
        var site = new Site(_db.DataSource);
        await site.Model(1);
        await site.Version(11, 1, "SDXL 1.0");
        await site.Metric(11, 5, 5);
        var before = DateTimeOffset.UtcNow.AddHours(-1);
        await BaselineState.SetWatermarkAsync(_db, before);
        await BaselineState.EnqueueAsync(_db, [.. Enumerable.Range(1, QueuedIds)]);

        // Every run fails the same way before the watermark moves: the job is wedged.
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var report = await _db.RunAsync("sequential");
            Assert.Equal(RunOutcome.Failed, report.Outcome);
            Assert.Contains("more than 65535 parameters", report.Error!.Message, StringComparison.Ordinal);
            Assert.Equal(before.ToUnixTimeMilliseconds(), await BaselineState.WatermarkAsync(_db));
            Assert.Equal(QueuedIds, await BaselineState.QueueDepthAsync(_db));
        }

        var clock = new FixedTimeProvider(DateTimeOffset.UtcNow);
        var result = await BaselineState.RunAndSucceedAsync(_db, "phase1", clock);
        Assert.Equal((QueuedIds, QueuedIds / 500), (result.AffectedModels, result.Batches));
        Assert.Equal(clock.GetUtcNow().ToUnixTimeMilliseconds(), await BaselineState.WatermarkAsync(_db));
        Assert.Equal(0, await BaselineState.QueueDepthAsync(_db));
        await _db.AssertMatchesOracleAsync("after phase1");
    }
}
