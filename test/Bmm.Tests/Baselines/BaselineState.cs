using Bmm.Refresh;
using Bmm.Tests.Infrastructure;

namespace Bmm.Tests.Baselines;

/// <summary>Reads and sets what the baselines keep between runs: the watermark and the queue.</summary>
internal static class BaselineState
{
    /// <summary>The stored watermark in epoch milliseconds, or null when there is none.</summary>
    public static Task<long?> WatermarkAsync(TestDatabase db) =>
        db.ScalarAsync<long?>("""SELECT ("value" #>> '{}')::bigint FROM "KeyValue" WHERE "key" = 'metric:basemodel'""");

    public static Task SetWatermarkAsync(TestDatabase db, DateTimeOffset at) =>
        db.ExecuteAsync($"""INSERT INTO "KeyValue" ("key", "value") VALUES ('metric:basemodel', '{at.ToUnixTimeMilliseconds()}')""");

    public static Task<int> EnqueueAsync(TestDatabase db, params int[] ids) =>
        JobControl.EnqueueAsync(db.DataSource, ids, TestContext.Current.CancellationToken);

    public static Task<long> QueueDepthAsync(TestDatabase db) => db.ScalarAsync<long>("SELECT count(*) FROM bmm.model_queue");

    public static async Task<RefreshResult> RunAndSucceedAsync(TestDatabase db, string strategy, TimeProvider? time = null)
    {
        var report = await db.RunAsync(strategy, time);
        Assert.True(report.Outcome == RunOutcome.Succeeded, $"{strategy} {report.Outcome}: {report.Error}");
        return report.Result!;
    }
}
