using Npgsql;

namespace Bmm.Writing;

/// <summary>The write path (bmm.write_pairs) called with pairs computed outside PostgreSQL.</summary>
public static class WritePath
{
    private const string WritePairs = """
        SELECT inserted, updated, deleted, unchanged, clamped
        FROM bmm.write_pairs(@scope, @models, @bases, @thumbs, @downloads, @images)
        """;

    /// <summary>
    /// Makes the visible rows of the given pairs equal to the given values, every row of
    /// <paramref name="scope"/> compared (so that their pairs not given go), in the caller's transaction.
    /// </summary>
    public static async Task<WriteCounts> WritePairsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] scope,
        int[] models, string[] bases, int[] thumbs, long[] downloads, long[] images, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(WritePairs, connection, transaction);
        command.Parameters.AddWithValue("scope", scope);
        command.Parameters.AddWithValue("models", models);
        command.Parameters.AddWithValue("bases", bases);
        command.Parameters.AddWithValue("thumbs", thumbs);
        command.Parameters.AddWithValue("downloads", downloads);
        command.Parameters.AddWithValue("images", images);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return WriteCounts.Read(reader);
    }
}
