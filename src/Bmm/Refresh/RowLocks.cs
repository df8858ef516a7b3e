using Npgsql;

namespace Bmm.Refresh;

/// <summary>
/// Locks the table rows of a set of models in key order before a job statement writes them.
/// The site's own trigger updates a model's rows when the model is edited, through the primary
/// key, so in key order. A job statement that wrote many models' rows in its plan's order could
/// take one of a model's rows while a site transaction held another, each then waiting for the
/// other until PostgreSQL aborted one; the one aborted was the site's edit (seen under the
/// benchmark's follow load). Taking every lock in key order first leaves no such cycle.
/// </summary>
internal static class RowLocks
{
    private const string LockInKeyOrder = """
        SELECT count(*) FROM (
            SELECT 1 FROM "ModelBaseModelMetric"
            WHERE "modelId" = ANY (@ids)
            ORDER BY "modelId", "baseModel"
            FOR UPDATE
        ) locked
        """;

    public static async Task LockInKeyOrderAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, CancellationToken cancellationToken)
    {
        if (modelIds.Length == 0) return;
        await using var command = new NpgsqlCommand(LockInKeyOrder, connection, transaction);
        command.Parameters.AddWithValue("ids", modelIds);
        await command.ExecuteScalarAsync(cancellationToken);
    }
}
