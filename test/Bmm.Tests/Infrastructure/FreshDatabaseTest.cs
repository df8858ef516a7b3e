namespace Bmm.Tests.Infrastructure;

/// <summary>A test class whose every test gets a fresh database of its own, and the site's writers on it.</summary>
public abstract class FreshDatabaseTest : IAsyncLifetime
{
    protected TestDatabase Db { get; private set; } = null!;
    protected Site Site { get; private set; } = null!;

    public virtual async ValueTask InitializeAsync()
    {
        Db = await TestDatabase.CreateAsync(TestContext.Current.CancellationToken);
        Site = new Site(Db.DataSource);
    }

    public virtual ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return Db.DisposeAsync();
    }
}
