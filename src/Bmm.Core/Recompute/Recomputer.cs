using Bmm.Writing;
using Npgsql;

namespace Bmm.Recompute;

/// <summary>
/// The oracle restricted to a set of models, written through the write path: what setbased,
/// backfill and the repairs of a recomputing strategy do to a model.
/// </summary>
public static class Recomputer
{
    /// <summary>
    /// Recomputes the given models in the caller's transaction and writes only what differs;
    /// distinct thumbs-up users are recounted as <paramref name="recount"/> says.
    /// </summary>
    public static async Task<WriteCounts> RefreshModelsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, Recount recount, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(RecomputeSql.RefreshModels, connection, transaction);
        command.Parameters.AddWithValue("ids", modelIds);
        command.Parameters.AddWithValue("recount_all", recount.All);
        command.Parameters.AddWithValue("recount_models", recount.Models);
        command.Parameters.AddWithValue("recount_bases", recount.Bases);
        return await ExecuteBatchAsync(command, cancellationToken);
    }

    /// <summary>Runs a batch statement ending in <see cref="RecomputeSql.WriteDesired"/> and reads what it wrote.</summary>
    internal static async Task<WriteCounts> ExecuteBatchAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return WriteCounts.Read(reader);
    }
}
