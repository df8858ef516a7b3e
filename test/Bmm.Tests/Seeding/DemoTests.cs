using Bmm.Cli;
using Bmm.Seeding;
using Bmm.Tests.Infrastructure;

namespace Bmm.Tests.Seeding;

/// <summary>The demo's own pieces (the whole demo resets the shared embedded database, so it is tried by hand).</summary>
[Collection(SeedingCollection.Name)]
public sealed class DemoTests(SeededTinyDatabase seeded)
{
    [Fact]
    public async Task The_demo_refuses_a_connection_string_before_touching_anything()
    {
        var exit = await ToolsApp.RunAsync(["demo", "--connection", "Host=127.0.0.1;Port=1;Database=site"], new StringWriter(), TestContext.Current.CancellationToken);
        Assert.Equal(ExitCodes.Usage, exit);
    }

    private sealed record Row(int ModelId, int Thumbs, int Downloads, int Images, string Status, string Availability, string? Mode, bool Minor);

    [Fact]
    public async Task A_feed_page_is_the_filtered_table_in_the_sort_order()
    {
        var ct = TestContext.Current.CancellationToken;
        var db = seeded.Database;

        var rows = new List<Row>();
        await using (var all = db.DataSource.CreateCommand("""
            SELECT "modelId", "thumbsUpCount", "downloadCount", "imageCount", "status"::text, "availability"::text, "mode"::text, "minor"
            FROM "ModelBaseModelMetric" WHERE "baseModel" = 'SDXL 1.0'
            """))
        await using (var reader = await all.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
                rows.Add(new Row(reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetInt32(3), reader.GetString(4),
                    reader.GetString(5), reader.IsDBNull(6) ? null : reader.GetString(6), reader.GetBoolean(7)));
        }
        var visible = rows.Where(r => r is { Status: "Published", Minor: false } && r.Availability != "Private" && r.Mode != "Archived").ToList();
        Assert.True(visible.Count < rows.Count, "the seed has rows the feed hides");

        Assert.Equal(visible.OrderByDescending(r => r.Thumbs).ThenByDescending(r => r.Downloads).ThenBy(r => r.ModelId).Take(5).Select(r => r.ModelId),
            await PageAsync(db, DemoSql.HighestRated));
        Assert.Equal(visible.OrderByDescending(r => r.Downloads).ThenByDescending(r => r.Thumbs).ThenBy(r => r.ModelId).Take(5).Select(r => r.ModelId),
            await PageAsync(db, DemoSql.MostDownloaded));
        Assert.Equal(visible.OrderByDescending(r => r.Images).ThenByDescending(r => r.Thumbs).ThenBy(r => r.ModelId).Take(5).Select(r => r.ModelId),
            await PageAsync(db, DemoSql.ImageCount));
    }

    private static async Task<List<int>> PageAsync(TestDatabase db, string sql)
    {
        await using var command = db.DataSource.CreateCommand(sql);
        command.Parameters.AddWithValue("base_model", "SDXL 1.0");
        command.Parameters.AddWithValue("limit", 5);
        var ids = new List<int>();
        await using var reader = await command.ExecuteReaderAsync(TestContext.Current.CancellationToken);
        while (await reader.ReadAsync(TestContext.Current.CancellationToken)) ids.Add(reader.GetInt32(0));
        return ids;
    }
}
