using System.Diagnostics;
using Npgsql;

namespace Bmm.Bench;

/// <summary>Latency of the feed's pages read from the table after a refresh.</summary>
internal static class FeedReads
{
    private const int DeepPageDepth = 2_000;

    public static async Task<List<FeedLatency>> MeasureAsync(NpgsqlDataSource dataSource, string strategy, int reads, CancellationToken cancellationToken)
    {
        var baseModels = new List<string>();
        await using (var largest = dataSource.CreateCommand(BenchSql.LargestBaseModels))
        await using (var reader = await largest.ExecuteReaderAsync(cancellationToken))
            while (await reader.ReadAsync(cancellationToken)) baseModels.Add(reader.GetString(0));

        var results = new List<FeedLatency>();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        foreach (var baseModel in baseModels)
        foreach (var (sort, key1, key2) in BenchSql.Sorts)
        {
            await using var first = new NpgsqlCommand(BenchSql.FirstPage(key1, key2), connection);
            first.Parameters.AddWithValue("base_model", baseModel);
            results.Add(await TimeAsync(first, strategy, baseModel, sort, "first page", reads, cancellationToken));

            await using var cursor = new NpgsqlCommand(BenchSql.CursorAt(key1, key2), connection);
            cursor.Parameters.AddWithValue("base_model", baseModel);
            cursor.Parameters.AddWithValue("depth", DeepPageDepth);
            (int K1, int K2, int Id)? at = null;
            await using (var reader = await cursor.ExecuteReaderAsync(cancellationToken))
                if (await reader.ReadAsync(cancellationToken)) at = (reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2));
            if (at is not { } keys) continue;
            await using var deep = new NpgsqlCommand(BenchSql.DeepPage(key1, key2), connection);
            deep.Parameters.AddWithValue("base_model", baseModel);
            deep.Parameters.AddWithValue("k1", keys.K1);
            deep.Parameters.AddWithValue("k2", keys.K2);
            deep.Parameters.AddWithValue("id", keys.Id);
            results.Add(await TimeAsync(deep, strategy, baseModel, sort, $"after {DeepPageDepth:N0}", reads, cancellationToken));
        }
        return results;
    }

    private static async Task<FeedLatency> TimeAsync(NpgsqlCommand command, string strategy, string baseModel, string sort, string page, int reads, CancellationToken cancellationToken)
    {
        await command.PrepareAsync(cancellationToken);
        var samples = new double[reads];
        for (var i = 0; i < reads; i++)
        {
            var started = Stopwatch.GetTimestamp();
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
                while (await reader.ReadAsync(cancellationToken)) { }
            samples[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }
        Array.Sort(samples);
        return new FeedLatency(strategy, baseModel, sort, page, samples[samples.Length / 2], samples[Math.Min(samples.Length - 1, (int)Math.Ceiling(samples.Length * 0.99) - 1)]);
    }
}
