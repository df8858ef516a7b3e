using Bmm.Capture;
using Bmm.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Bmm.Tests.Hardening;

/// <summary>
/// The job's maintenance beside other callers on one small pool, as follow and serve share theirs
/// (the listener, the lock, the applies, the state reads of /metrics and /health). A reader
/// disposed twice once closed whichever reader the pool had handed its connection to since:
/// Npgsql reuses one reader object per connection.
/// </summary>
public sealed class SharedPoolTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    // With the double dispose back, this hangs (or reads a wrong sum): the timeout makes it a failure.
    [Fact(Timeout = 60_000)]
    public async Task Maintenance_beside_readers_on_a_pool_of_two_never_disturbs_their_results()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pool = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(db.ConnectionString) { MaxPoolSize = 2 }.ConnectionString);
        for (var round = 0; round < 150; round++)
        {
            var maintenance = ChangeLog.MaintainAsync(pool, NullLogger.Instance, ct);
            var reading = SumOfARowAtATimeAsync(pool, ct);
            var consumers = ChangeLog.ReadConsumersAsync(pool, ct);
            await maintenance;
            Assert.Equal(55, await reading);
            Assert.NotEmpty(await consumers);
        }
    }

    /// <summary>Ten rows read one at a time, yielding between them, so that other callers run meanwhile.</summary>
    private static async Task<int> SumOfARowAtATimeAsync(NpgsqlDataSource pool, CancellationToken ct)
    {
        await using var command = pool.CreateCommand("SELECT generate_series(1, 10)");
        await using var reader = await command.ExecuteReaderAsync(ct);
        var sum = 0;
        while (await reader.ReadAsync(ct))
        {
            sum += reader.GetInt32(0);
            await Task.Yield();
        }
        return sum;
    }
}
