using Bmm.Tests.Infrastructure;

namespace Bmm.Tests.Seeding;

/// <summary>A fingerprint of the site's tables: md5 of every row in key order.</summary>
internal static class SeedChecksums
{
    private const string Sql = """
        SELECT concat_ws(' ',
            (SELECT md5(string_agg(t::text, ',' ORDER BY t."id")) FROM "Model" t),
            (SELECT md5(string_agg(t::text, ',' ORDER BY t."id")) FROM "ModelVersion" t),
            (SELECT md5(string_agg(t::text, ',' ORDER BY t."modelVersionId")) FROM "ModelVersionMetric" t),
            (SELECT md5(string_agg(t::text, ',' ORDER BY t."id")) FROM "ResourceReview" t),
            (SELECT md5(string_agg((t."modelId", t."baseModel", t."thumbsUpCount", t."downloadCount", t."imageCount",
                                    t."status", t."availability", t."nsfwLevel", t."mode", t."poi", t."minor")::text, ','
                                   ORDER BY t."modelId", t."baseModel"))
             FROM "ModelBaseModelMetric" t))
        """;

    public static Task<string> ComputeAsync(TestDatabase database) => database.ScalarAsync<string>(Sql);
}
