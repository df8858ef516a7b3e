namespace Bmm.Seeding;

/// <summary>
/// A deterministic synthetic copy of the site, shaped by the numbers of reference-system.md:
/// sparse model ids (up to about 2.8 times the count), 84% of models with one version and a long
/// tail up to hundreds, one creator with about 1.25% of all versions, base models of Zipf-like
/// popularity, about 5% of versions not Published, lognormal model popularity driving skewed
/// downloads and reviews (most models none, the top ones tens of thousands at site scale), about
/// 2% of reviews excluded or violating the terms and 8% not recommended.
/// <para>
/// Nothing is held: <see cref="Models"/> replays the same sequence from the seed every time it is
/// enumerated, so each table is streamed by its own pass. Each model's reviews come from a seed
/// drawn in that sequence, so a pass that skips the reviews still makes the same draws.
/// </para>
/// </summary>
internal sealed class SyntheticSite(SeedProfile profile, int seed)
{
    /// <summary>The seeded history spans these dates, fixed so that a seed always gives the same rows.</summary>
    public static readonly DateTime HistoryStart = new(2022, 11, 1, 0, 0, 0, DateTimeKind.Unspecified);
    public static readonly DateTime HistoryEnd = new(2025, 10, 1, 0, 0, 0, DateTimeKind.Unspecified);

    /// <summary>The largest creator; about 1.25% of models (so about 15,000 versions at site scale) are theirs.</summary>
    public const int BigCreatorUserId = 17;
    private const double BigCreatorShare = 0.0125;
    /// <summary>Spread of the lognormal popularity of a model; its mean is exp(sigma^2 / 2).</summary>
    private const double PopularitySigma = 2.5;
    private const int MaxReviewsPerModel = 60_000;
    private const double DayMs = 86_400_000.0;

    public SeedProfile Profile => profile;
    public int Seed => seed;

    public IEnumerable<SyntheticModel> Models()
    {
        var random = new Random(seed);
        var reviewRate = profile.ReviewsPerModel / Math.Exp(PopularitySigma * PopularitySigma / 2);
        var historyMs = (HistoryEnd - HistoryStart).TotalMilliseconds;
        var modelId = 0;
        var versionId = 0;
        for (var i = 0; i < profile.Models; i++)
        {
            // Gaps of mean 2.8 between ids, as deleted and never-published models leave on the site.
            modelId += 1 + random.Geometric(1 / 2.8);
            var popularity = Math.Exp(PopularitySigma * random.Normal());
            // Creators are less concentrated than reviewers, so that the big creator stays the biggest.
            var userId = random.Chance(BigCreatorShare) ? BigCreatorUserId : random.Skewed(profile.Users, 1.5);
            // More models in recent months: the site grew.
            var createdMs = historyMs * Math.Pow((i + random.NextDouble()) / profile.Models, 0.6) * 0.995;
            var modelNsfw = SiteVocabulary.Pick(random, SiteVocabulary.NsfwLevels);
            var availability = random.Chance(0.94) ? "Public" : SiteVocabulary.Pick(random, SiteVocabulary.Availabilities);
            var primaryBase = SiteVocabulary.BaseModel(random);

            var versionCount = VersionCount(random);
            var versions = new SyntheticVersion[versionCount];
            var versionMs = createdMs;
            var anyPublished = false;
            for (var j = 0; j < versionCount; j++)
            {
                versionId += 1 + (random.Chance(0.3) ? random.Geometric(0.5) : 0);
                if (j > 0) versionMs += Math.Min(-Math.Log(1 - random.NextDouble()) * 20 * DayMs, 200 * DayMs);
                versionMs = Math.Min(versionMs, historyMs - 60_000);
                var baseModel = j == 0 || random.Chance(0.75) ? primaryBase : SiteVocabulary.BaseModel(random);
                var published = random.Chance(0.95);
                anyPublished |= published;
                var status = published ? "Published" : SiteVocabulary.Pick(random, SiteVocabulary.VersionStatusesNotPublished);
                double? publishedMs = published || status.StartsWith("Unpublished", StringComparison.Ordinal)
                    ? Math.Min(versionMs + random.Next(300_000, 7_200_000), historyMs) : null;
                var updatedMs = Math.Min((publishedMs ?? versionMs) + (random.Chance(0.3) ? random.NextDouble() * 30 * DayMs : 0), historyMs);
                var baseModelType = random.Chance(0.03) ? null : random.Chance(0.04) ? "Inpainting" : random.Chance(0.01) ? "Refiner" : "Standard";
                var metric = (published ? random.Chance(0.995) : random.Chance(0.5))
                    ? Metric(random, popularity, versionMs, historyMs)
                    : null;
                versions[j] = new SyntheticVersion(versionId, $"v{j + 1}.0", baseModel, baseModelType, status,
                    random.Chance(0.97) ? availability : "EarlyAccess", random.Chance(0.9) ? modelNsfw : SiteVocabulary.Pick(random, SiteVocabulary.NsfwLevels),
                    publishedMs is { } p ? At(p) : null, At(versionMs), At(updatedMs), metric);
            }

            var modelStatus = anyPublished
                ? (random.NextDouble() switch { < 0.96 => "Published", < 0.98 => "Unpublished", < 0.99 => "UnpublishedViolation", < 0.995 => "Deleted", _ => "GatherInterest" })
                : (random.NextDouble() switch { < 0.6 => "Draft", < 0.9 => "Unpublished", _ => "Training" });
            var mode = random.NextDouble() switch { < 0.04 => "Archived", < 0.045 => "TakenDown", _ => null };
            // Never more than half the (version, user) pairs there are, so distinct users can always be found.
            var reviewCount = (int)Math.Min(random.Poisson(reviewRate * popularity), Math.Min(MaxReviewsPerModel, versionCount * (long)profile.Users / 2));
            var reviewSeed = random.Next();
            var modelUpdatedMs = Math.Min(versionMs + (random.Chance(0.5) ? random.NextDouble() * 60 * DayMs : 0), historyMs);
            yield return new SyntheticModel(modelId, SiteVocabulary.ModelName(random), userId, SiteVocabulary.Pick(random, SiteVocabulary.ModelTypes),
                modelStatus, availability, mode, modelNsfw, random.Chance(0.02), random.Chance(0.015),
                At(versionMs), At(modelUpdatedMs), reviewCount, reviewSeed, versions);
        }
    }

    /// <summary>
    /// The reviews of one model: on its versions, by users skewed toward the active few (so one
    /// user often reviews several versions of a model), each (version, user) at most once.
    /// </summary>
    public IEnumerable<SyntheticReview> Reviews(SyntheticModel model)
    {
        if (model.ReviewCount == 0) yield break;
        var random = new Random(model.ReviewSeed);
        var historyMs = (HistoryEnd - HistoryStart).TotalMilliseconds;
        var taken = new HashSet<long>();
        for (var k = 0; k < model.ReviewCount; k++)
        {
            var version = model.Versions[random.Next(model.Versions.Count)];
            var userId = random.Skewed(profile.Users);
            for (var attempt = 0; !taken.Add(((long)version.Id << 32) | (uint)userId); attempt++)
                userId = attempt < 8 ? random.Skewed(profile.Users) : userId % profile.Users + 1;
            var recommended = random.Chance(0.92);
            var rating = recommended ? (random.Chance(0.7) ? 5 : 4) : random.Next(1, 4);
            var exclude = random.Chance(0.01);
            var tosViolation = random.Chance(0.01);
            var createdFrom = (version.CreatedAt - HistoryStart).TotalMilliseconds;
            var createdMs = createdFrom + random.NextDouble() * (historyMs - createdFrom);
            var updatedMs = random.Chance(0.2) ? createdMs + random.NextDouble() * (historyMs - createdMs) : createdMs;
            yield return new SyntheticReview(version.Id, userId, rating, recommended, exclude, tosViolation, random.Chance(0.15),
                random.Chance(0.25) ? SiteVocabulary.Pick(random, SiteVocabulary.ReviewTexts) : null, At(createdMs), At(updatedMs));
        }
    }

    /// <summary>84% one version; then 2 (13%), 3, a few up to 19, and 0.1% with 20 to a few hundred.</summary>
    private static int VersionCount(Random random) => random.NextDouble() switch
    {
        < 0.84 => 1,
        < 0.97 => 2,
        < 0.988 => 3,
        < 0.996 => random.Next(4, 7),
        < 0.999 => random.Next(7, 20),
        _ => LongTail(random),
    };

    /// <summary>Pareto from 20 (exponent 1.6), redrawn above 500 so that no count piles up at a cap.</summary>
    private static int LongTail(Random random)
    {
        while (true)
        {
            var count = 20 * Math.Pow(1 - random.NextDouble(), -1 / 1.6);
            if (count <= 500) return (int)count;
        }
    }

    private static SyntheticMetric Metric(Random random, double popularity, double versionMs, double historyMs)
    {
        // Lognormal downloads scaled by the model's popularity: most versions tens, a few millions.
        var downloads = Math.Min(Math.Exp(3.5 + 1.2 * random.Normal()) * Math.Pow(popularity, 0.8), 1_500_000_000);
        var images = random.Chance(0.35) ? 0 : downloads * 0.02 * Math.Exp(random.Normal());
        var thumbsUp = downloads * 0.01 * random.NextDouble();
        var generations = random.Chance(0.5) ? 0 : downloads * 0.3 * Math.Exp(random.Normal());
        // Popular versions were counted recently, forgotten ones long ago.
        var updatedMs = Math.Max(versionMs, historyMs - Math.Pow(random.NextDouble(), 3) * 365 * DayMs / (1 + Math.Log(1 + popularity)));
        return new SyntheticMetric((int)downloads, (int)Math.Min(images, int.MaxValue), (int)thumbsUp, (int)(thumbsUp * 0.05 * random.NextDouble()),
            (int)(downloads * 0.002 * random.NextDouble()), (int)(downloads * 0.05 * random.NextDouble()), (int)(downloads * 0.001 * random.NextDouble()),
            (int)(downloads * 0.01 * random.NextDouble()), (int)Math.Min(generations, int.MaxValue), (int)(downloads * 0.003 * random.NextDouble()), At(updatedMs));
    }

    /// <summary>A point of the history at millisecond precision, as timestamp(3) stores it.</summary>
    private static DateTime At(double offsetMs) => HistoryStart.AddMilliseconds(Math.Floor(offsetMs));
}
