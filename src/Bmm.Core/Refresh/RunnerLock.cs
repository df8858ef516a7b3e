using Npgsql;

namespace Bmm.Refresh;

/// <summary>
/// The single-runner guard shared by every strategy: a session advisory lock held on a dedicated
/// connection. The connection is pinged while held; if it drops, the lock is gone and
/// <see cref="Lost"/> cancels the work.
/// </summary>
public sealed class RunnerLock : IAsyncDisposable
{
    /// <summary>The advisory lock key, "bmm" followed by 1; the same for every strategy and process.</summary>
    public const long Key = 0x626D6D_0001;

    private static readonly TimeSpan PingInterval = TimeSpan.FromSeconds(5);
    private readonly NpgsqlConnection _connection;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _stopPinging = new();
    private readonly Task _pinger;

    private RunnerLock(NpgsqlConnection connection)
    {
        _connection = connection;
        _pinger = PingAsync();
    }

    public CancellationToken Lost => _lost.Token;

    /// <summary>Takes the lock if free; null when another runner holds it.</summary>
    public static async Task<RunnerLock?> TryAcquireAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var command = new NpgsqlCommand("SELECT pg_try_advisory_lock(@key)", connection);
            command.Parameters.AddWithValue("key", Key);
            if (await command.ExecuteScalarAsync(cancellationToken) is true) return new RunnerLock(connection);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
        await connection.DisposeAsync();
        return null;
    }

    /// <summary>
    /// Who holds the lock, for a message that tells an operator what to wait for or stop: the
    /// holder's application name (each bmm command names its connections, e.g. "bmm follow"),
    /// where it connects from and since when; "another runner" where the role may not see it.
    /// </summary>
    public static async Task<string> DescribeHolderAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        try
        {
            await using var command = dataSource.CreateCommand(HolderSql);
            command.Parameters.AddWithValue("key", Key);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken) || reader.IsDBNull(0)) return "another runner";
            var name = reader.GetString(0);
            var from = reader.IsDBNull(1) ? "this host" : reader.GetString(1);
            var since = reader.IsDBNull(2) ? "" : $", connected since {reader.GetDateTime(2):yyyy-MM-dd HH:mm:ss} UTC";
            return $"`{(name == "" ? "an unnamed session" : name)}` (backend {reader.GetInt32(3)} from {from}{since})";
        }
        catch (NpgsqlException)
        {
            return "another runner";
        }
    }

    /// <summary>The session holding <see cref="Key"/> in this database (a bigint key is split into classid and objid).</summary>
    private const string HolderSql = """
        SELECT a.application_name, host(a.client_addr), a.backend_start AT TIME ZONE 'UTC', l.pid
        FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = (@key >> 32)::oid AND l.objid = (@key & 4294967295)::oid
        """;

    private async Task PingAsync()
    {
        try
        {
            while (true)
            {
                await Task.Delay(PingInterval, _stopPinging.Token);
                await using var command = new NpgsqlCommand("SELECT 1", _connection);
                await command.ExecuteScalarAsync(_stopPinging.Token);
            }
        }
        catch (OperationCanceledException) when (_stopPinging.IsCancellationRequested)
        {
            // Released normally.
        }
        catch (Exception)
        {
            await _lost.CancelAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopPinging.CancelAsync();
        await _pinger;
        try
        {
            await using var command = new NpgsqlCommand("SELECT pg_advisory_unlock(@key)", _connection);
            command.Parameters.AddWithValue("key", Key);
            await command.ExecuteScalarAsync();
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException or IOException)
        {
            // The connection is gone (and the lock with it), or it is alive and may still hold the
            // lock: either way it must not go back to the pool, where the next caller would
            // inherit the lock. Clearing the pool closes it when it is returned below.
            NpgsqlConnection.ClearPool(_connection);
        }
        await _connection.DisposeAsync();
        _lost.Dispose();
        _stopPinging.Dispose();
    }
}
