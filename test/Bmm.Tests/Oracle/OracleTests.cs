using Bmm.Oracle;
using Bmm.Tests.Seeding;

namespace Bmm.Tests.Oracle;

/// <summary>
/// The fast, set-wise oracle that verify uses equals the definition written literally (a
/// correlated count of distinct users per pair), on the tiny seeded site.
/// </summary>
[Collection(SeedingCollection.Name)]
public sealed class OracleTests(SeededTinyDatabase seeded)
{
    [Fact]
    public async Task The_set_wise_oracle_equals_the_literal_definition()
    {
        var db = seeded.Database;
        var differences = await db.ScalarAsync<long>(
            "SELECT count(*) FROM ((" + OracleSql.Expected + ") EXCEPT ALL (" + OracleSql.ExpectedFast + ")) a") +
            await db.ScalarAsync<long>(
            "SELECT count(*) FROM ((" + OracleSql.ExpectedFast + ") EXCEPT ALL (" + OracleSql.Expected + ")) b");
        Assert.Equal(0, differences);
        Assert.True(await db.ScalarAsync<long>("SELECT count(*) FROM (" + OracleSql.Expected + ") e") > 1_000);
    }
}
