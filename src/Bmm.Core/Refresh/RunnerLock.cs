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
        catch (NpgsqlException)
        {
            // The connection is gone, and the lock with it.
        }
        await _connection.DisposeAsync();
        _lost.Dispose();
        _stopPinging.Dispose();
    }
}
