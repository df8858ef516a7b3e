using Bmm.Tests.Infrastructure;
using Npgsql;

namespace Bmm.Tests.Hardening;

/// <summary>
/// A run caught in the middle of its work: models 1 to n have a change pending, and a site
/// transaction holds model n's row of the table, which the run must write; the run waits there
/// (having done the models before it) until the transaction ends, or the test does something to it.
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

    /// <summary>Models 1 to <paramref name="models"/> (version 10 × model) applied once and changed again (to 6 downloads); the last one's row held.</summary>
    public static async Task<RowHeldBySite> HoldAsync(TestDatabase db, Site site, int models = 1)
    {
        var ct = TestContext.Current.CancellationToken;
        for (var model = 1; model <= models; model++)
        {
            await site.Model(model);
            await site.Version(model * 10, model, "SDXL 1.0");
            await site.Metric(model * 10, 5, 1);
        }
        await db.RunAsync();
        for (var model = 1; model <= models; model++) await site.Metric(model * 10, 6, 1);
        var connection = await db.DataSource.OpenConnectionAsync(ct);
        var transaction = await connection.BeginTransactionAsync(ct);
        await using (var hold = new NpgsqlCommand("""SELECT 1 FROM "ModelBaseModelMetric" WHERE "modelId" = @model FOR UPDATE""", connection, transaction))
        {
            hold.Parameters.AddWithValue("model", models);
            await hold.ExecuteNonQueryAsync(ct);
        }
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
