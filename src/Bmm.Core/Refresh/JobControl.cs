using Bmm.Capture;
using Bmm.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.Refresh;

/// <summary>One row of bmm.run_history.</summary>
public sealed record RunHistoryRow(long Id, string Strategy, DateTime StartedAt, DateTime? FinishedAt, string Outcome,
    long AffectedModels, int Batches, long Inserted, long Updated, long Deleted, long Unchanged, long Clamped, bool BacklogLeft, string? Error);

/// <summary>
/// What an operator controls and reads beside the runs: the kill switch, the queue of model ids,
/// the job's state (gauges, /health, <c>bmm status</c>) and the run history.
/// </summary>
public static class JobControl
{
    /// <summary>
    /// Records a run's start and returns its id, marking the runs that never finished abandoned
    /// (logged). Only a runner holding the lock may call it: then no other run is open.
    /// </summary>
    public static async Task<long> StartRunAsync(NpgsqlDataSource dataSource, string strategy, ILogger logger, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(JobControlSql.StartRun);
        command.Parameters.AddWithValue("strategy", strategy);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        long runId = 0;
        while (await reader.ReadAsync(cancellationToken))
        {
            runId = reader.GetInt64(0);
            if (!reader.IsDBNull(1)) Log.RunAbandoned(logger, reader.GetInt64(1), reader.GetString(2), reader.GetDateTime(3));
        }
        return runId;
    }

    public static async Task<bool> IsPausedAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(JobControlSql.IsPaused);
        return await command.ExecuteScalarAsync(cancellationToken) is true;
    }

    public static async Task SetPausedAsync(NpgsqlDataSource dataSource, bool paused, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(JobControlSql.SetPaused);
        command.Parameters.AddWithValue("paused", paused);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Queues model ids for the next run; returns how many were not queued already.</summary>
    public static async Task<int> EnqueueAsync(NpgsqlDataSource dataSource, IReadOnlyCollection<int> ids, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(JobControlSql.Enqueue);
        command.Parameters.AddWithValue("ids", ids.ToArray());
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Queue depth, what <paramref name="consumer"/> has not applied yet and how old, the log's size, the last success.</summary>
    public static async Task<JobStateSnapshot> ReadStateAsync(NpgsqlDataSource dataSource, string consumer, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(JobControlSql.State);
        command.Parameters.AddWithValue("name", consumer);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new JobStateSnapshot(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetDouble(3),
            reader.IsDBNull(4) ? double.PositiveInfinity : reader.GetDouble(4));
    }

    /// <summary>The setbased consumer's position, as text; null before migrate registered it.</summary>
    public static async Task<string?> ReadSetBasedPositionAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(JobControlSql.SetBasedPosition);
        command.Parameters.AddWithValue("name", ChangeLog.SetBasedConsumer);
        return await command.ExecuteScalarAsync(cancellationToken) as string;
    }

    /// <summary>The baselines' timestamp watermark (the site's KeyValue row), as stored.</summary>
    public static async Task<string?> ReadBaselineWatermarkAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(JobControlSql.BaselineWatermark);
        return (await command.ExecuteScalarAsync(cancellationToken))?.ToString();
    }

    /// <summary>The last <paramref name="limit"/> runs, newest first.</summary>
    public static async Task<List<RunHistoryRow>> ReadRecentRunsAsync(NpgsqlDataSource dataSource, int limit, CancellationToken cancellationToken)
    {
        var runs = new List<RunHistoryRow>();
        await using var command = dataSource.CreateCommand(JobControlSql.RecentRuns);
        command.Parameters.AddWithValue("limit", limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            runs.Add(new RunHistoryRow(reader.GetInt64(0), reader.GetString(1), reader.GetDateTime(2), reader.IsDBNull(3) ? null : reader.GetDateTime(3),
                reader.GetString(4), reader.GetInt64(5), reader.GetInt32(6), reader.GetInt64(7), reader.GetInt64(8), reader.GetInt64(9),
                reader.GetInt64(10), reader.GetInt64(11), reader.GetBoolean(12), reader.IsDBNull(13) ? null : reader.GetString(13)));
        }
        return runs;
    }
}
