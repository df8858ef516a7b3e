using Bmm.Seeding;
using Bmm.Tests.Infrastructure;

namespace Bmm.Tests.Seeding;

/// <summary>
/// The seeding tests run alone, after the parallel ones. The change log's horizon
/// (pg_snapshot_xmin) is cluster-wide, so the seed's and the simulator's write transactions in
/// one database hold back the setbased runs of the tests in the others (and theirs hold back
/// ours): a run would leave changes for the next run, and a test asserting "one run, no drift"
/// would fail although the job is right.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SeedingCollection : ICollectionFixture<SeededTinyDatabase>
{
    public const string Name = "Seeding";
}

/// <summary>One tiny seed (seed 42), shared by the tests that only read it.</summary>
public sealed class SeededTinyDatabase : IAsyncLifetime
{
    public TestDatabase Database { get; private set; } = null!;
    public SeedReport Report { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Database = await TestDatabase.CreateAsync(TestContext.Current.CancellationToken);
        Report = await SeedTests.SeedAsync(Database);
    }

    public ValueTask DisposeAsync() => Database.DisposeAsync();
}
