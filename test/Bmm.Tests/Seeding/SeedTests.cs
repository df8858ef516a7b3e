using Bmm.Configuration;
using Bmm.Refresh;
using Bmm.Seeding;
using Bmm.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmm.Tests.Seeding;

/// <summary>The seed: exactly the oracle's table, the same rows for the same seed, and the site's shape.</summary>
[Collection(SeedingCollection.Name)]
public sealed class SeedTests(SeededTinyDatabase seeded)
{
    private static readonly DateTimeOffset SeedTime = new(2025, 10, 2, 12, 0, 0, TimeSpan.Zero);

    internal static Task<SeedReport> SeedAsync(TestDatabase database, int seed = 42, bool replace = false) =>
        Seeder.SeedAsync(database.DataSource, new SeedOptions { Scale = SeedScale.Tiny, Seed = seed, Replace = replace },
            new FixedTimeProvider(SeedTime), NullLogger.Instance, null, TestContext.Current.CancellationToken);

    [Fact]
    public async Task A_tiny_seed_equals_the_oracle_and_leaves_the_job_nothing_to_do()
    {
        var (db, report) = (seeded.Database, seeded.Report);

        Assert.Equal(2_000, report.Models);
        Assert.Equal(report.Models, await db.ScalarAsync<long>("""SELECT count(*) FROM "Model" """));
        Assert.Equal(report.Versions, await db.ScalarAsync<long>("""SELECT count(*) FROM "ModelVersion" """));
        Assert.Equal(report.VersionMetrics, await db.ScalarAsync<long>("""SELECT count(*) FROM "ModelVersionMetric" """));
        Assert.Equal(report.Reviews, await db.ScalarAsync<long>("""SELECT count(*) FROM "ResourceReview" """));
        Assert.Equal(report.AggregateRows, await db.ScalarAsync<long>("""SELECT count(*) FROM "ModelBaseModelMetric" """));
        await db.AssertMatchesOracleAsync("after the seed");

        Assert.Equal(SeedTime.ToUnixTimeMilliseconds(),
            await db.ScalarAsync<long>("""SELECT ("value"::text)::bigint FROM "KeyValue" WHERE "key" = 'metric:basemodel'"""));
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM bmm.change_log"));
        var run = await db.RunAsync();
        Assert.Equal(0, run.Result!.AffectedModels);
    }

    [Fact]
    public async Task The_same_seed_gives_the_same_rows_and_another_seed_other_rows()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var first = await TestDatabase.CreateAsync(ct);
        await using var second = await TestDatabase.CreateAsync(ct);
        await Task.WhenAll(SeedAsync(first, seed: 7), SeedAsync(second, seed: 7));
        var checksum = await SeedChecksums.ComputeAsync(first);
        Assert.Equal(checksum, await SeedChecksums.ComputeAsync(second));

        var refused = await Assert.ThrowsAsync<UsageException>(() => SeedAsync(second, seed: 8));
        Assert.Contains("--replace", refused.Message, StringComparison.Ordinal);

        await SeedAsync(second, seed: 8, replace: true);
        var other = await SeedChecksums.ComputeAsync(second);
        Assert.All(checksum.Split(' ').Zip(other.Split(' ')), pair => Assert.NotEqual(pair.First, pair.Second));
        await second.AssertMatchesOracleAsync("after --replace");
    }

    [Fact]
    public async Task A_tiny_seed_has_the_shape_of_the_site()
    {
        var db = seeded.Database;

        var singleVersion = await db.ScalarAsync<double>("""
            SELECT avg((n = 1)::int)::float8 FROM (SELECT count(*) AS n FROM "ModelVersion" GROUP BY "modelId") v
            """);
        Assert.InRange(singleVersion, 0.80, 0.88);
        var idSpread = await db.ScalarAsync<double>("""SELECT max("id")::float8 / count(*) FROM "Model" """);
        Assert.InRange(idSpread, 2.3, 3.3);
        var notPublished = await db.ScalarAsync<double>("""SELECT avg(("status" <> 'Published')::int)::float8 FROM "ModelVersion" """);
        Assert.InRange(notPublished, 0.03, 0.08);
        var topThreeShare = await db.ScalarAsync<double>("""
            SELECT sum(n) FILTER (WHERE rank <= 3)::float8 / sum(n)
            FROM (SELECT count(*) AS n, row_number() OVER (ORDER BY count(*) DESC) AS rank FROM "ModelBaseModelMetric" GROUP BY "baseModel") b
            """);
        Assert.InRange(topThreeShare, 0.40, 0.60);
        Assert.InRange(await db.ScalarAsync<long>("""SELECT count(DISTINCT "baseModel") FROM "ModelVersion" """), 25, 40);
        var notRecommended = await db.ScalarAsync<double>("""SELECT avg((NOT "recommended")::int)::float8 FROM "ResourceReview" """);
        Assert.InRange(notRecommended, 0.06, 0.10);
        var excluded = await db.ScalarAsync<double>("""SELECT avg(("exclude" OR "tosViolation")::int)::float8 FROM "ResourceReview" """);
        Assert.InRange(excluded, 0.01, 0.035);
        // Skewed reviews: most models have none, the top one many.
        var reviewed = await db.ScalarAsync<double>("""SELECT count(DISTINCT "modelId")::float8 / (SELECT count(*) FROM "Model") FROM "ResourceReview" """);
        Assert.InRange(reviewed, 0.2, 0.5);
        Assert.True(await db.ScalarAsync<long>("""SELECT max(n) FROM (SELECT count(*) AS n FROM "ResourceReview" GROUP BY "modelId") r""") >= 500);
        // A user who reviewed several versions of one base model of a model counts once.
        Assert.True(await db.ScalarAsync<long>("""
            SELECT count(*) FROM (
                SELECT 1 FROM "ResourceReview" r JOIN "ModelVersion" v ON v."id" = r."modelVersionId"
                GROUP BY r."modelId", v."baseModel", r."userId" HAVING count(*) > 1) d
            """) > 0);
        // One creator far ahead of the others (at tiny scale a single model's long tail of versions can outweigh them, so count models).
        var biggestCreator = await db.ScalarAsync<int>("""SELECT "userId" FROM "Model" GROUP BY "userId" ORDER BY count(*) DESC, "userId" LIMIT 1""");
        Assert.Equal(SyntheticSite.BigCreatorUserId, biggestCreator);
    }

    [Fact]
    public void At_medium_scale_the_counts_are_a_fifth_of_the_sites()
    {
        // The distributions do not depend on the scale; medium (200,000 models) is generated in a
        // second, site scale (1,000,000) would take five.
        var site = new SyntheticSite(SeedProfile.For(SeedScale.Medium), 42);
        long models = 0, versions = 0, reviews = 0, bigCreatorVersions = 0, twentyOrMore = 0, single = 0;
        var maxId = 0;
        foreach (var model in site.Models())
        {
            models++;
            versions += model.Versions.Count;
            reviews += model.ReviewCount;
            if (model.UserId == SyntheticSite.BigCreatorUserId) bigCreatorVersions += model.Versions.Count;
            if (model.Versions.Count >= 20) twentyOrMore++;
            if (model.Versions.Count == 1) single++;
            maxId = model.Id;
        }
        Assert.Equal(200_000, models);
        Assert.InRange(versions, 230_000, 270_000);
        Assert.InRange(single / (double)models, 0.83, 0.85);
        Assert.InRange(twentyOrMore, 140, 280);
        Assert.InRange(bigCreatorVersions, 2_400, 4_000);
        Assert.InRange(maxId, 520_000, 600_000);
        Assert.InRange(reviews, 800_000, 1_300_000);
    }
}
