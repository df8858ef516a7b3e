using System.Text.Json;
using Npgsql;

namespace Bmm.Writing;

/// <summary>A pair whose true sums were clamped to int4 in the table.</summary>
public sealed record ClampedPair(int ModelId, string BaseModel, long Downloads, long Images);

/// <summary>
/// What one call of the write path (bmm.write_pairs: make these pairs' visible rows equal to
/// these values, writing only the rows that differ) did to "ModelBaseModelMetric".
/// </summary>
public sealed record WriteCounts(long Inserted, long Updated, long Deleted, long Unchanged, string ClampedJson)
{
    public static readonly WriteCounts None = new(0, 0, 0, 0, "[]");

    public long Written => Inserted + Updated + Deleted;

    /// <summary>Reads the write path's five columns (inserted, updated, deleted, unchanged, clamped) from <paramref name="first"/> on.</summary>
    public static WriteCounts Read(NpgsqlDataReader reader, int first = 0) =>
        new(reader.GetInt64(first), reader.GetInt64(first + 1), reader.GetInt64(first + 2), reader.GetInt64(first + 3), reader.GetString(first + 4));

    /// <summary>The counts of several writes together, their clamped pairs included.</summary>
    public static WriteCounts Sum(IReadOnlyCollection<WriteCounts> writes) =>
        new(writes.Sum(w => w.Inserted), writes.Sum(w => w.Updated), writes.Sum(w => w.Deleted), writes.Sum(w => w.Unchanged),
            ClampedToJson(writes.SelectMany(w => w.ClampedPairs())));

    /// <summary>Clamped pairs as the write path reports them: [[model, base model, downloads, images], ...].</summary>
    private static string ClampedToJson(IEnumerable<ClampedPair> pairs)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var pair in pairs)
            {
                json.WriteStartArray();
                json.WriteNumberValue(pair.ModelId);
                json.WriteStringValue(pair.BaseModel);
                json.WriteNumberValue(pair.Downloads);
                json.WriteNumberValue(pair.Images);
                json.WriteEndArray();
            }
            json.WriteEndArray();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    public List<ClampedPair> ClampedPairs()
    {
        using var json = JsonDocument.Parse(ClampedJson);
        return json.RootElement.EnumerateArray()
            .Select(pair => new ClampedPair(pair[0].GetInt32(), pair[1].GetString()!, pair[2].GetInt64(), pair[3].GetInt64()))
            .ToList();
    }
}
