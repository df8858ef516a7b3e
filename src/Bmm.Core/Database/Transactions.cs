using Bmm.Configuration;
using Bmm.Resilience;
using Bmm.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.Database;

/// <summary>Runs units of work in transactions with timeouts, retrying only those that rolled back.</summary>
public sealed class Transactions(NpgsqlDataSource dataSource, JobOptions options, ILogger logger, JobMetrics? metrics = null)
{
    /// <summary>
    /// Timeouts, and no JIT: the job's statements touch thousands of rows through indexes, where
    /// compiling (tens of milliseconds, set off by row estimates of joins on arrays) costs more than it saves.
    /// </summary>
    private const string SetTimeoutsSql = "SELECT set_config('lock_timeout', @lock, true), set_config('statement_timeout', @statement, true), set_config('jit', 'off', true)";

    /// <summary>A rolled-back transaction is retried after 0.2 s, then 0.4 s, ...: the lock it met is usually gone by then.</summary>
    private static readonly Backoff RetryBackoff = new(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(100));

    public NpgsqlDataSource DataSource => dataSource;

    /// <summary>
    /// Runs <paramref name="work"/> in one transaction. A failure that PostgreSQL reports as a
    /// rollback (deadlock, serialization failure, lock timeout) is retried with backoff; anything
    /// else propagates. The work must re-read what it depends on, since a retry starts afresh.
    /// </summary>
    public async Task<T> RunAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            try
            {
                await using (var timeouts = new NpgsqlCommand(SetTimeoutsSql, connection, transaction))
                {
                    timeouts.Parameters.AddWithValue("lock", $"{options.LockTimeoutSeconds}s");
                    timeouts.Parameters.AddWithValue("statement", $"{options.StatementTimeoutSeconds}s");
                    await timeouts.ExecuteNonQueryAsync(cancellationToken);
                }
                var result = await work(connection, transaction, cancellationToken);
                await transaction.CommitAsync(cancellationToken);
                return result;
            }
            catch (PostgresException e) when (IsRolledBack(e) && attempt < options.MaxAttempts)
            {
                metrics?.Retries.Add(1);
                var delay = RetryBackoff.After(attempt);
                Log.Retrying(logger, e.SqlState, attempt, options.MaxAttempts, (long)delay.TotalMilliseconds);
                await Task.Delay(delay, cancellationToken);
            }
        }
    }

    /// <summary>Errors after which PostgreSQL has rolled the whole transaction back, so nothing was left behind.</summary>
    public static bool IsRolledBack(PostgresException e) => e.SqlState is
        PostgresErrorCodes.SerializationFailure or
        PostgresErrorCodes.DeadlockDetected or
        PostgresErrorCodes.LockNotAvailable;
}
