using Bmm.Refresh;
using Bmm.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.Hosting;

/// <summary>One reading of the job state: the snapshot (null if none was ever read), when, and the error of the last attempt.</summary>
public sealed record StateReading(JobStateSnapshot? Snapshot, DateTimeOffset ReadAt, Exception? Error);

/// <summary>
/// The job state behind the gauges and /health, read from the database at most once per
/// <c>maxAge</c> however often it is asked for, so a busy scraper cannot load the database.
/// The gauges read <see cref="Current"/>, which never touches the database and never throws.
/// </summary>
public sealed class JobStateCache(NpgsqlDataSource dataSource, string consumer, TimeSpan maxAge, TimeProvider time, ILogger logger)
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(5);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _lock = new();
    private StateReading _reading = new(null, DateTimeOffset.MinValue, null);
    private DateTimeOffset _lastAttempt = DateTimeOffset.MinValue;

    /// <summary>The latest reading, refreshed first when it is older than the cache's age.</summary>
    public async Task<StateReading> GetAsync(CancellationToken cancellationToken)
    {
        if (!IsStale()) return Latest();
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (!IsStale()) return Latest();
            lock (_lock) _lastAttempt = time.GetUtcNow();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(ReadTimeout);
            try
            {
                var snapshot = await JobControl.ReadStateAsync(dataSource, consumer, timeout.Token);
                lock (_lock) _reading = new StateReading(snapshot, time.GetUtcNow(), null);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException
                                          || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                HostLog.StateReadFailed(logger, Database.Errors.Describe(e));
                lock (_lock) _reading = _reading with { Error = e };
            }
            return Latest();
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// The last snapshot with its two ages brought forward to now (a pending change and the last
    /// success only get older between readings); null before the first reading. Never throws.
    /// </summary>
    public JobStateSnapshot? Current
    {
        get
        {
            try
            {
                return Aged(Latest(), time.GetUtcNow());
            }
#pragma warning disable CA1031 // A gauge callback must never throw: the exporter would drop the instrument.
            catch (Exception)
#pragma warning restore CA1031
            {
                return null;
            }
        }
    }

    /// <summary>The reading's snapshot as of <paramref name="now"/>.</summary>
    public static JobStateSnapshot? Aged(StateReading reading, DateTimeOffset now)
    {
        if (reading.Snapshot is not { } snapshot) return null;
        var elapsed = Math.Max(0, (now - reading.ReadAt).TotalSeconds);
        return snapshot with
        {
            LagSeconds = snapshot.LagSeconds > 0 ? snapshot.LagSeconds + elapsed : 0,
            SecondsSinceLastSuccess = snapshot.SecondsSinceLastSuccess + elapsed,
        };
    }

    private StateReading Latest()
    {
        lock (_lock) return _reading;
    }

    private bool IsStale()
    {
        lock (_lock) return time.GetUtcNow() - _lastAttempt >= maxAge;
    }
}
