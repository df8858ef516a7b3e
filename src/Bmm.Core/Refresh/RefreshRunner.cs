using System.Diagnostics;
using System.Text.Json;
using Bmm.Configuration;
using Bmm.Database;
using Bmm.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.Refresh;

public enum RunOutcome
{
    Succeeded,
    SkippedLocked,
    SkippedPaused,
    Failed,
}

/// <summary>The outcome of one attempt to run, with the strategy's result when it ran.</summary>
public sealed record RunReport(RunOutcome Outcome, string Strategy, long RunId, RefreshResult? Result, double Seconds, Exception? Error);

/// <summary>
/// Runs one refresh: takes the shared runner lock, honours the kill switch, records the run in
/// bmm.run_history and the metrics. Every strategy goes through here; <paramref name="strategies"/>
/// are all of them, whose state another strategy's writes may invalidate.
/// </summary>
/// <paramref name="clickHouse"/> is the mirror of the clickhouse strategy, where one is configured.
public sealed class RefreshRunner(NpgsqlDataSource dataSource, JobOptions options, TimeProvider time, ILogger logger, JobMetrics metrics,
    IReadOnlyCollection<IRefreshStrategy> strategies, ClickHouse.ClickHouseMirror? clickHouse = null)
{
    public Task<RunReport> RunOnceAsync(IRefreshStrategy strategy, CancellationToken cancellationToken) =>
        RunOnceAsync(strategy, null, cancellationToken);

    /// <summary>
    /// One run of <paramref name="strategy"/>; <paramref name="afterSuccess"/>, when given, runs
    /// under the same lock once the run succeeded (serve reconciles a slice of the table there).
    /// </summary>
    public async Task<RunReport> RunOnceAsync(IRefreshStrategy strategy, Func<RefreshContext, CancellationToken, Task>? afterSuccess, CancellationToken cancellationToken)
    {
        await using var runnerLock = await RunnerLock.TryAcquireAsync(dataSource, cancellationToken);
        if (runnerLock is null)
        {
            metrics.RunsSkipped.Add(1, new KeyValuePair<string, object?>("reason", "locked"));
            Log.RunSkippedLocked(logger);
            return new RunReport(RunOutcome.SkippedLocked, strategy.Name, 0, null, 0, null);
        }
        if (await JobControl.IsPausedAsync(dataSource, cancellationToken))
        {
            metrics.RunsSkipped.Add(1, new KeyValuePair<string, object?>("reason", "paused"));
            Log.RunSkippedPaused(logger);
            return new RunReport(RunOutcome.SkippedPaused, strategy.Name, 0, null, 0, null);
        }

        await StateKeepers.ForgetOthersAsync(dataSource, strategies, strategy.Name, logger, cancellationToken);

        var runId = await JobControl.StartRunAsync(dataSource, strategy.Name, logger, cancellationToken);

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, runnerLock.Lost);
        var context = new RefreshContext(dataSource, options, time, logger, metrics) { ClickHouse = clickHouse };
        var started = Stopwatch.GetTimestamp();
        // What committed, however the run ends: a failed run reports it too.
        var result = new RefreshResult();
        Exception? error = null;
        try
        {
            await strategy.RefreshAsync(context, result, linked.Token);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopped from outside (SIGINT, SIGTERM): the history says so, and the stop goes on.
            await RecordAsync(runId, "cancelled", result, null, CancellationToken.None);
            throw;
        }
        catch (Exception e)
        {
            error = runnerLock.Lost.IsCancellationRequested
                ? new InvalidOperationException("The connection holding the runner lock was lost; the run stopped.", e)
                : e;
        }
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        if (error is null && afterSuccess is not null) await afterSuccess(context, linked.Token);
        var outcome = error is null ? RunOutcome.Succeeded : RunOutcome.Failed;
        await RecordAsync(runId, error is null ? "succeeded" : "failed", result, error, CancellationToken.None);

        var tags = new KeyValuePair<string, object?>[] { new("strategy", strategy.Name), new("outcome", outcome.ToString().ToLowerInvariant()) };
        metrics.Runs.Add(1, tags);
        metrics.RunDuration.Record(seconds, tags);
        foreach (var (phase, phaseSeconds) in result.PhaseSeconds)
            metrics.PhaseDuration.Record(phaseSeconds, new("strategy", strategy.Name), new("phase", phase));
        metrics.RecordWork(tags[0], result.AffectedModels, result.Inserted, result.Updated, result.Deleted, result.Unchanged);
        if (error is null)
            Log.RunFinished(logger, runId, strategy.Name, result.AffectedModels, result.Batches, result.Inserted, result.Updated, result.Deleted, result.Unchanged, seconds);
        else
            Log.RunFailed(logger, error, runId, strategy.Name);
        return new RunReport(outcome, strategy.Name, runId, result, seconds, error);
    }

    private async Task RecordAsync(long runId, string outcome, RefreshResult? result, Exception? error, CancellationToken cancellationToken)
    {
        try
        {
            await using var finish = dataSource.CreateCommand(JobControlSql.FinishRun);
            finish.Parameters.AddWithValue("id", runId);
            finish.Parameters.AddWithValue("outcome", outcome);
            finish.Parameters.AddWithValue("affected", result?.AffectedModels ?? 0);
            finish.Parameters.AddWithValue("batches", result?.Batches ?? 0);
            finish.Parameters.AddWithValue("inserted", result?.Inserted ?? 0);
            finish.Parameters.AddWithValue("updated", result?.Updated ?? 0);
            finish.Parameters.AddWithValue("deleted", result?.Deleted ?? 0);
            finish.Parameters.AddWithValue("unchanged", result?.Unchanged ?? 0);
            finish.Parameters.AddWithValue("clamped", result?.Clamped ?? 0);
            finish.Parameters.AddWithValue("backlog", result?.BacklogLeft ?? false);
            finish.Parameters.AddWithValue("phases", JsonSerializer.Serialize(result?.PhaseSeconds ?? [], RefreshJson.Default.DictionaryStringDouble));
            finish.Parameters.AddWithValue("error", error is null ? DBNull.Value : Errors.Describe(error));
            await finish.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (NpgsqlException e)
        {
            // The database is unreachable; the run itself is logged by the caller either way.
            Log.RunNotRecorded(logger, runId, Errors.Describe(e));
        }
    }
}
