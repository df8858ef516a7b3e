using System.Globalization;
using System.Text.Json;
using Bmm.Refresh;
using Npgsql;
using NpgsqlTypes;

namespace Bmm.Strategies.Sequential;

/// <summary>
/// The steps the pre-plan job and Phase 1 share unchanged: the watermark, the affected models,
/// the upsert. Phase 1 changed only batch sizes, concurrency and the aggregation queries.
/// </summary>
internal static class BaselineSteps
{
    /// <summary>Subtracted from the watermark to give slow writers time; later commits are lost.</summary>
    public static readonly TimeSpan SlowWriterGrace = TimeSpan.FromMinutes(2);

    /// <summary>Upsert chunks written at once, each on its own connection, before and after the plan.</summary>
    public const int UpsertConcurrency = 10;


    /// <summary>How a baseline hands its queue to the database: the one thing, with aggregation, that Phase 1 changed.</summary>
    public interface IQueueAccess
    {
        /// <summary>Looks up the queued models' versions; the site only logged how many there were.</summary>
        Task CountQueuedVersionsAsync(NpgsqlDataSource dataSource, int[] queue, CancellationToken cancellationToken);

        Task ClearQueueAsync(NpgsqlDataSource dataSource, int[] queue, CancellationToken cancellationToken);
    }

    /// <summary>
    /// The run both baselines share: affected models from the watermark and the queue, the
    /// strategy's aggregation, the upsert, then the new watermark and the cleared queue.
    /// </summary>
    public static async Task RunAsync(RefreshContext context, RefreshResult result, IQueueAccess queueAccess,
        Func<int[], RefreshResult, Task<List<PairStats>>> aggregate, int upsertChunkSize, CancellationToken cancellationToken)
    {
        var dataSource = context.DataSource;
        // The watermark is the run's start on the job's clock, not the database's. Flaw: the next
        // window opens here, so a slow run widens the next one, which makes it slower still.
        var runStart = context.Time.GetUtcNow();

        var (queue, affected) = await result.TimeAsync("find_affected", async () =>
        {
            var since = await ReadWatermarkAsync(dataSource, cancellationToken) - SlowWriterGrace;
            var queue = await ReadQueueAsync(dataSource, cancellationToken);
            if (queue.Length > 0) await queueAccess.CountQueuedVersionsAsync(dataSource, queue, cancellationToken);
            return (queue, await FindAffectedAsync(dataSource, since, queue, cancellationToken));
        });
        result.AffectedModels = affected.Length;

        var rows = await result.TimeAsync("aggregate", () => aggregate(affected, result));
        await result.TimeAsync("upsert", () => UpsertAsync(context, result, rows, upsertChunkSize, cancellationToken));

        // Only after every batch succeeded; a failed run leaves the watermark and the queue as they were.
        await result.TimeAsync("watermark", async () =>
        {
            await WriteWatermarkAsync(dataSource, runStart, cancellationToken);
            if (queue.Length > 0) await queueAccess.ClearQueueAsync(dataSource, queue, cancellationToken);
        });
        result.Watermark = Describe(runStart);
    }

    /// <summary>The start of the last successful run; the epoch when there was none.</summary>
    public static async Task<DateTimeOffset> ReadWatermarkAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(SequentialSql.ReadWatermark);
        return await command.ExecuteScalarAsync(cancellationToken) is long ms
            ? DateTimeOffset.FromUnixTimeMilliseconds(ms)
            : DateTimeOffset.UnixEpoch;
    }

    private static async Task WriteWatermarkAsync(NpgsqlDataSource dataSource, DateTimeOffset runStart, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(SequentialSql.WriteWatermark);
        command.Parameters.AddWithValue("ms", runStart.ToUnixTimeMilliseconds());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static string Describe(DateTimeOffset watermark) =>
        string.Create(CultureInfo.InvariantCulture, $"{watermark.UtcDateTime:O} ({watermark.ToUnixTimeMilliseconds()} ms)");

    private static async Task<int[]> ReadQueueAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var ids = new List<int>();
        await using var command = dataSource.CreateCommand(SequentialSql.ReadQueue);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) ids.Add(reader.GetInt32(0));
        return [.. ids];
    }

    /// <summary>Models with a version metric stamped after <paramref name="since"/>, plus the queue, sorted.</summary>
    private static async Task<int[]> FindAffectedAsync(NpgsqlDataSource dataSource, DateTimeOffset since, int[] queue, CancellationToken cancellationToken)
    {
        var ids = new HashSet<int>(queue);
        await using var command = dataSource.CreateCommand(SequentialSql.AffectedSince);
        // The site's timestamp(3) columns hold UTC wall-clock time without a zone.
        command.Parameters.Add(new NpgsqlParameter("since", NpgsqlDbType.Timestamp)
        {
            Value = DateTime.SpecifyKind(since.UtcDateTime, DateTimeKind.Unspecified),
        });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) ids.Add(reader.GetInt32(0));
        var sorted = ids.ToArray();
        Array.Sort(sorted);
        return sorted;
    }

    /// <summary>
    /// Writes <paramref name="rows"/> in chunks, <see cref="UpsertConcurrency"/> at a time. Each
    /// chunk commits on its own, as on the site: a failure leaves the earlier chunks written.
    /// </summary>
    private static Task UpsertAsync(RefreshContext context, RefreshResult result, IReadOnlyList<PairStats> rows, int chunkSize, CancellationToken cancellationToken) =>
        Parallel.ForEachAsync(
            rows.Chunk(chunkSize),
            new ParallelOptions { MaxDegreeOfParallelism = UpsertConcurrency, CancellationToken = cancellationToken },
            async (chunk, token) =>
            {
                var json = JsonSerializer.Serialize(chunk, PairStatsJson.Default.PairStatsArray);
                var (inserted, updated) = await context.Transactions.RunAsync(async (connection, transaction, ct) =>
                {
                    await using var command = new NpgsqlCommand(SequentialSql.Upsert, connection, transaction);
                    command.Parameters.AddWithValue("json", json);
                    await using var reader = await command.ExecuteReaderAsync(ct);
                    await reader.ReadAsync(ct);
                    return (reader.GetInt64(0), reader.GetInt64(1));
                }, token);
                // Counted once committed: a retried chunk must not count twice.
                result.AddWrite(inserted, updated, deleted: 0, unchanged: 0);
            });
}
