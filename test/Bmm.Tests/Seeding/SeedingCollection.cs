using Bmm.Seeding;
using Bmm.Tests.Infrastructure;

namespace Bmm.Tests.Seeding;

/// <summary>The seeding tests share one tiny seeded database.</summary>
[CollectionDefinition(Name)]
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
