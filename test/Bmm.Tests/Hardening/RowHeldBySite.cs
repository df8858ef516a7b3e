using Bmm.Tests.Infrastructure;
using Npgsql;

namespace Bmm.Tests.Hardening;

/// <summary>
/// A run caught in the middle of its work: model 1 has a change pending, and a site transaction
/// holds model 1's row of the table, which the run must write; the run waits there until the
/// transaction ends (or the test does something to it meanwhile).
/// </summary>
internal sealed class RowHeldBySite : IAsyncDisposable
{
    /// <summary>Keeps the run waiting on the row for as long as a test needs.</summary>
    public static readonly IReadOnlyDictionary<string, string> PatientRun = new Dictionary<string, string> { ["BMM_Job__LockTimeoutSeconds"] = "60" };

    private readonly NpgsqlConnection _connection;
    private readonly NpgsqlTransaction _transaction;

    private RowHeldBySite(NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        _connection = connection;
        _transaction = transaction;
    }

    /// <summary>Model 1 applied once, changed again, and its row held.</summary>
    public static async Task<RowHeldBySite> HoldAsync(TestDatabase db, Site site)
    {
        var ct = TestContext.Current.CancellationToken;
        await site.Model(1);
        await site.Version(10, 1, "SDXL 1.0");
        await site.Metric(10, 5, 1);
        await db.RunAsync();
        await site.Metric(10, 6, 1);
        var connection = await db.DataSource.OpenConnectionAsync(ct);
        var transaction = await connection.BeginTransactionAsync(ct);
        await using (var hold = new NpgsqlCommand("""SELECT 1 FROM "ModelBaseModelMetric" WHERE "modelId" = 1 FOR UPDATE""", connection, transaction))
            await hold.ExecuteNonQueryAsync(ct);
        return new RowHeldBySite(connection, transaction);
    }

    /// <summary>Returns once a session of <paramref name="db"/> waits on a lock (the run on the row); fails after 30 s or if <paramref name="ended"/>.</summary>
    public static async Task UntilARunWaitsAsync(TestDatabase db, Func<bool> ended)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await db.ScalarAsync<long>("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'") == 0)
        {
            Assert.True(DateTime.UtcNow < deadline && !ended(), "the run never waited on the held row");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _transaction.RollbackAsync(CancellationToken.None);
        await _transaction.DisposeAsync();
        await _connection.DisposeAsync();
    }
}
