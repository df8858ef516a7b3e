using Bmm.Configuration;
using Bmm.Hosting;
using Bmm.Refresh;
using Bmm.Resilience;
using Bmm.Telemetry;
using Microsoft.Extensions.Logging;

namespace Bmm.Serve;

/// <summary>
/// Starts a run at every occurrence of the schedule until stopped. A tick that arrives while
/// this process's previous run is still going is skipped (reason "busy"); after a failed run no
/// run starts for a backoff that doubles from a floor to a ceiling on each further failure
/// (reason "backoff"). The loop never lets an exception escape.
/// </summary>
public sealed class Scheduler(
    RefreshRunner runner, IRefreshStrategy strategy, Func<RefreshContext, CancellationToken, Task>? afterSuccess, CronSchedule schedule,
    ServeOptions options, TimeProvider time, ILogger logger, JobMetrics metrics)
{
    // Task.Delay takes at most about 49 days; long waits are taken in steps, which also follows clock changes.
    private static readonly TimeSpan LongestWait = TimeSpan.FromHours(1);
    private readonly Backoff _backoff = new(TimeSpan.FromSeconds(options.FailureBackoffFloorSeconds), TimeSpan.FromSeconds(options.FailureBackoffCeilingSeconds));
    private readonly Lock _lock = new();
    private Task _current = Task.CompletedTask;
    private int _consecutiveFailures;
    private DateTimeOffset _notBefore = DateTimeOffset.MinValue;

    /// <summary>Runs until <paramref name="stop"/> is cancelled, then cancels the run in flight and waits for it to roll back.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        var tick = schedule.Next(time.GetUtcNow());
        HostLog.NextRun(logger, tick);
        var loopFailures = 0;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await WaitUntilAsync(tick, stop);
                OnTick(tick, stop);
                var now = time.GetUtcNow();
                tick = schedule.Next(tick > now ? tick : now);
                loopFailures = 0;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
#pragma warning disable CA1031 // The loop never dies: log, back off, go on.
            catch (Exception e)
#pragma warning restore CA1031
            {
                loopFailures++;
                var delay = BackoffAfter(loopFailures);
                HostLog.SchedulerLoopFailed(logger, e, (long)delay.TotalMilliseconds);
                try
                {
                    await Task.Delay(delay, time, stop);
                    tick = schedule.Next(time.GetUtcNow());
                }
                catch (OperationCanceledException)
                {
                    break;
                }
#pragma warning disable CA1031
                catch (Exception)
#pragma warning restore CA1031
                {
                    // Next() failed again; the next pass of the loop logs and backs off.
                }
            }
        }
        HostLog.Stopping(logger);
        await _current;
    }

    private async Task WaitUntilAsync(DateTimeOffset tick, CancellationToken stop)
    {
        for (var wait = tick - time.GetUtcNow(); wait > TimeSpan.Zero; wait = tick - time.GetUtcNow())
            await Task.Delay(wait < LongestWait ? wait : LongestWait, time, stop);
    }

    private void OnTick(DateTimeOffset tick, CancellationToken stop)
    {
        lock (_lock)
        {
            if (!_current.IsCompleted)
            {
                metrics.RunsSkipped.Add(1, new KeyValuePair<string, object?>("reason", "busy"));
                HostLog.TickSkippedBusy(logger, tick);
                return;
            }
            if (tick < _notBefore)
            {
                metrics.RunsSkipped.Add(1, new KeyValuePair<string, object?>("reason", "backoff"));
                HostLog.TickSkippedBackoff(logger, tick, _notBefore);
                return;
            }
            // On the thread pool, so that a run that blocks before its first await cannot hold up the ticks.
            _current = Task.Run(() => RunGuardedAsync(stop), CancellationToken.None);
        }
    }

    /// <summary>One run; never throws, so <see cref="_current"/> can always be awaited.</summary>
    private async Task RunGuardedAsync(CancellationToken stop)
    {
        bool? succeeded;
        try
        {
            var report = await runner.RunOnceAsync(strategy, afterSuccess, stop);
            // The runner logged a failed run already; a skipped run neither clears nor extends a backoff.
            succeeded = report.Outcome switch
            {
                RunOutcome.Succeeded => true,
                RunOutcome.Failed => false,
                _ => null,
            };
        }
        catch (Exception) when (stop.IsCancellationRequested)
        {
            // Stopping: the run was cancelled, however its cancellation surfaced.
            return;
        }
#pragma warning disable CA1031 // A failed run must not stop the scheduler.
        catch (Exception e)
#pragma warning restore CA1031
        {
            HostLog.ScheduledRunFailed(logger, e);
            succeeded = false;
        }
        lock (_lock)
        {
            if (succeeded == true)
            {
                _consecutiveFailures = 0;
                _notBefore = DateTimeOffset.MinValue;
            }
            else if (succeeded == false)
            {
                _consecutiveFailures++;
                _notBefore = time.GetUtcNow() + BackoffAfter(_consecutiveFailures);
                HostLog.BackingOff(logger, _consecutiveFailures, _notBefore);
            }
        }
    }

    /// <summary>The floor doubled for each failure after the first, up to the ceiling.</summary>
    internal TimeSpan BackoffAfter(int failures) => _backoff.After(failures);
}
