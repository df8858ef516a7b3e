using System.Diagnostics;
using Bmm.Capture;
using Bmm.Configuration;
using Bmm.Reconcile;
using Bmm.Refresh;
using Bmm.Resilience;
using Bmm.Strategies.Incremental;
using Bmm.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.Follow;

/// <summary>
/// <c>bmm follow</c>: applies the change log continuously with the incremental strategy. It holds
/// the runner lock for as long as it follows (a second follower, or a scheduled run, waits), is
/// woken by LISTEN bmm_change_log at each capturing commit and looks anyway every PollSeconds,
/// reconciles a slice of the table every ReconcileSeconds, and survives anything short of being
/// stopped: a lost connection or a failed apply is logged, backed off and retried, reconnecting.
/// </summary>
public sealed class Follower(NpgsqlDataSource dataSource, JobOptions job, FollowOptions options, TimeProvider time, ILogger logger, JobMetrics metrics)
{
    private static readonly Backoff FailureBackoff = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
    /// <summary>What the follower applies, and how its table is reconciled and repaired.</summary>
    private static readonly IncrementalStrategy Strategy = new();
    private static readonly TimeSpan WakeTimeout = TimeSpan.FromSeconds(10);
    private long _lastTickTicks = time.GetUtcNow().UtcTicks;

    /// <summary>When the loop last completed a pass (or started), for /health.</summary>
    public DateTimeOffset LastTickAt => new(Interlocked.Read(ref _lastTickTicks), TimeSpan.Zero);

    /// <summary>
    /// Follows until <paramref name="stop"/> is cancelled; a transaction in flight rolls back.
    /// With <paramref name="rebuild"/> the state is rebuilt from a snapshot once the lock is held.
    /// </summary>
    public async Task RunAsync(bool rebuild, CancellationToken stop)
    {
        var failures = 0;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await using var runnerLock = await AcquireAsync(stop);
                if (rebuild) await IncrementalState.ForgetAsync(dataSource, stop);
                rebuild = false;
                await FollowAsync(runnerLock, () => failures = 0, stop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
#pragma warning disable CA1031 // The follower never dies: log, back off, reconnect.
            catch (Exception e)
#pragma warning restore CA1031
            {
                failures++;
                var delay = FailureBackoff.After(failures);
                Log.FollowFailed(logger, e, failures, delay.TotalSeconds);
                try
                {
                    await Task.Delay(delay, time, stop);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
        Log.Stopped(logger);
    }

    private async Task<RunnerLock> AcquireAsync(CancellationToken stop)
    {
        var logged = false;
        while (true)
        {
            if (await RunnerLock.TryAcquireAsync(dataSource, stop) is { } acquired) return acquired;
            if (!logged) Log.FollowWaitingForLock(logger, await RunnerLock.DescribeHolderAsync(dataSource, stop));
            logged = true;
            await Task.Delay(TimeSpan.FromSeconds(options.PollSeconds), time, stop);
        }
    }

    private async Task FollowAsync(RunnerLock runnerLock, Action onProgress, CancellationToken stop)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, runnerLock.Lost);
        var ct = linked.Token;
        await using var listener = await dataSource.OpenConnectionAsync(ct);
        await using (var listen = new NpgsqlCommand(FollowSql.Listen, listener))
            await listen.ExecuteNonQueryAsync(ct);

        var context = new RefreshContext(dataSource, job, time, logger, metrics);
        var bootstrapStarted = Stopwatch.GetTimestamp();
        var bootstrap = new RefreshResult();
        await IncrementalStrategy.BootstrapIfNeededAsync(context, bootstrap, ct);
        // The bootstrap's writes bring the table to the state: they count like any other pass's.
        if (bootstrap.PhaseSeconds.Count > 0) Record(bootstrap, Stopwatch.GetElapsedTime(bootstrapStarted).TotalSeconds);
        var reconciler = new Reconciler(dataSource, job, logger, metrics);
        var reconcileInterval = TimeSpan.FromSeconds(options.ReconcileSeconds);
        var nextReconcile = time.GetUtcNow() + reconcileInterval;
        var nextMaintenance = time.GetUtcNow();
        Log.Following(logger, options.PollSeconds, options.ReconcileSeconds);
        // A reconciliation check reads a slice in a snapshot of its own and writes nothing, so it
        // runs beside the applies instead of holding them up; what it finds is repaired here.
        var check = Task.FromResult<ReconcileCheck?>(null);
        try
        {
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                if (await JobControl.IsPausedAsync(dataSource, ct))
                    Interlocked.Exchange(ref _lastTickTicks, time.GetUtcNow().UtcTicks);
                else
                {
                    var started = Stopwatch.GetTimestamp();
                    var result = new RefreshResult();
                    await IncrementalStrategy.ApplyQueuedAsync(context, result, ct);
                    await IncrementalStrategy.ApplyPendingAsync(context, result, () => false, ct);
                    if (result.Batches > 0) Record(result, Stopwatch.GetElapsedTime(started).TotalSeconds);
                    onProgress();
                    Interlocked.Exchange(ref _lastTickTicks, time.GetUtcNow().UtcTicks);

                    var now = time.GetUtcNow();
                    if (now >= nextMaintenance)
                    {
                        await ChangeLog.MaintainAsync(dataSource, logger, ct);
                        nextMaintenance = now + TimeSpan.FromSeconds(options.MaintenanceSeconds);
                    }
                    if (check.IsCompleted)
                    {
                        if (await check is { } found) await RepairAsync(reconciler, found, ct);
                        check = Task.FromResult<ReconcileCheck?>(null);
                        if (now >= nextReconcile)
                        {
                            nextReconcile = now + reconcileInterval;
                            check = CheckAsync(reconciler, reconcileInterval, ct);
                        }
                    }
                }
                await WaitForChangeAsync(listener, TimeSpan.FromSeconds(options.PollSeconds), ct);
            }
        }
        finally
        {
            // A check still reading when the loop ends is not left behind.
            await check;
        }
    }

    /// <summary>
    /// Returns at a notification (at once for one that arrived while applying), after the poll
    /// interval, or at a stop. Npgsql's WaitAsync can hang when its own timeout or cancellation
    /// fires (npgsql/npgsql#5975; seen here with both), so it is given neither: the wait ends at a
    /// notification, and the poll interval or a stop sends one to end it.
    /// </summary>
    private async Task WaitForChangeAsync(NpgsqlConnection listener, TimeSpan poll, CancellationToken cancellationToken)
    {
        var listenerProcess = listener.ProcessID;
        var waiting = listener.WaitAsync(CancellationToken.None);
        try
        {
            using var tick = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var ticking = Task.Delay(poll, time, tick.Token);
            var first = await Task.WhenAny(waiting, ticking);
            await tick.CancelAsync();
            if (first != waiting)
            {
                await using (var wake = dataSource.CreateCommand(FollowSql.Wake))
                    await wake.ExecuteNonQueryAsync(CancellationToken.None);
                if (await Task.WhenAny(waiting, Task.Delay(WakeTimeout, time, CancellationToken.None)) != waiting)
                    throw new TimeoutException("The listening connection did not receive its own wake-up notification.");
            }
            await waiting;
        }
        catch when (!waiting.IsCompleted)
        {
            await EndWaitAsync(listenerProcess, waiting);
            throw;
        }
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>
    /// A wait that no notification ended (the wake-up failed or never arrived) is ended by ending
    /// its session, and observed: disposing the listener mid-wait would throw and leave a
    /// listening backend behind. Where the server is unreachable, the session is gone already.
    /// </summary>
    private async Task EndWaitAsync(int listenerProcess, Task waiting)
    {
        try
        {
            await using var end = dataSource.CreateCommand(FollowSql.EndListener);
            end.Parameters.AddWithValue("pid", listenerProcess);
            await end.ExecuteNonQueryAsync(CancellationToken.None);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            // The server is unreachable: the listener's socket fails with it.
        }
        try
        {
            await waiting.WaitAsync(WakeTimeout, time, CancellationToken.None);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException or IOException)
        {
            // Expected: the wait ends with its session.
        }
    }

    /// <summary>The check of the next slice; null when it failed (logged: the slice is tried again next time) or was stopped.</summary>
    private async Task<ReconcileCheck?> CheckAsync(Reconciler reconciler, TimeSpan interval, CancellationToken cancellationToken)
    {
        try
        {
            return await reconciler.CheckAsync(Strategy, interval, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
#pragma warning disable CA1031 // A failed check must not stop the applying.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Log.ReconcileFailed(logger, e);
            return null;
        }
    }

    private async Task RepairAsync(Reconciler reconciler, ReconcileCheck found, CancellationToken cancellationToken)
    {
        try
        {
            await reconciler.RepairAsync(Strategy, found, cancellationToken);
        }
#pragma warning disable CA1031 // A failed repair must not stop the applying.
        catch (Exception e) when (e is not OperationCanceledException)
#pragma warning restore CA1031
        {
            // The slice is checked again on the next pass.
            Log.ReconcileFailed(logger, e);
        }
    }

    private void Record(RefreshResult result, double seconds)
    {
        metrics.RecordWork(new("strategy", "incremental"), result.AffectedModels, result.Inserted, result.Updated, result.Deleted, result.Unchanged);
        Log.FollowApplied(logger, result.AffectedModels, result.Batches, result.Inserted, result.Updated, result.Deleted, seconds);
    }
}
