using System.Text.Json;
using Bmm.Cli;
using Bmm.Tests.Infrastructure;

namespace Bmm.Tests.ReviewsMv;

/// <summary>`bmm run --strategy reviews-mv` end to end, as a user runs it.</summary>
public sealed class ReviewsMvCommandTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    [Fact]
    public async Task Run_with_reviews_mv_refreshes_the_view_once_and_leaves_the_table_exact()
    {
        var site = new Site(db.DataSource);
        await site.Model(1);
        await site.Version(11, 1, "SDXL 1.0");
        await site.Metric(11, 10, 2);
        await site.Review(1, 11, 5);

        var first = await BmmProcess.RunAsync(db.ConnectionString, "run", "--strategy", "reviews-mv", "--json");
        Assert.True(first.ExitCode == ExitCodes.Success, first.ToString());
        using (var json = JsonDocument.Parse(first.Output))
        {
            Assert.Equal("reviews-mv", json.RootElement.GetProperty("strategy").GetString());
            Assert.Equal(1, json.RootElement.GetProperty("affectedModels").GetInt64());
            Assert.True(json.RootElement.GetProperty("phases").TryGetProperty("refresh_mv", out _));
        }
        Assert.Equal(ExitCodes.Success, (await BmmProcess.RunAsync(db.ConnectionString, "verify")).ExitCode);

        var second = await BmmProcess.RunAsync(db.ConnectionString, "run", "--strategy", "reviews-mv");
        Assert.True(second.ExitCode == ExitCodes.Success, second.ToString());
        Assert.DoesNotContain("refresh_mv", second.Output);
    }

    [Fact]
    public async Task A_refresh_interval_below_one_minute_is_refused()
    {
        var result = await BmmProcess.RunAsync(db.ConnectionString, new Dictionary<string, string> { ["BMM_Job__ReviewsMvRefreshMinutes"] = "0" }, null, "run", "--strategy", "reviews-mv");
        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains("Job:ReviewsMvRefreshMinutes must be at least 1", result.Error);
    }
}
