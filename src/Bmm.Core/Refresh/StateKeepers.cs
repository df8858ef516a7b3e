using Bmm.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.Refresh;

/// <summary>
/// The strategies whose state includes the table's counters (<see cref="Reconciliation.State"/>):
/// any other writer of the table makes that state invalid, so it is forgotten before another
/// writer starts, and the strategy rebuilds it from a snapshot on its next run.
/// </summary>
public static class StateKeepers
{
    private const string Forget = "DELETE FROM bmm.consumer WHERE name = ANY (@names) RETURNING name";

    private const string Kept = "SELECT name FROM bmm.consumer WHERE name = ANY (@names)";

    /// <summary>The state keeper whose state this database holds, if any: the one that keeps the table.</summary>
    public static async Task<IRefreshStrategy?> KeepingAsync(NpgsqlDataSource dataSource, IEnumerable<IRefreshStrategy> strategies, CancellationToken cancellationToken)
    {
        var keepers = strategies.Where(s => s is { Reconciliation: Reconciliation.State, Consumer: not null }).ToList();
        if (keepers.Count == 0) return null;
        await using var command = dataSource.CreateCommand(Kept);
        command.Parameters.AddWithValue("names", keepers.Select(s => s.Consumer!).ToArray());
        var kept = await command.ExecuteScalarAsync(cancellationToken) as string;
        return keepers.FirstOrDefault(s => s.Consumer == kept);
    }

    /// <summary>Forgets the state of every state keeper but <paramref name="writer"/>, saying so for each it had.</summary>
    public static async Task ForgetOthersAsync(NpgsqlDataSource dataSource, IEnumerable<IRefreshStrategy> strategies, string writer,
        ILogger logger, CancellationToken cancellationToken)
    {
        var consumers = strategies
            .Where(s => s is { Reconciliation: Reconciliation.State, Consumer: not null } && s.Name != writer)
            .Select(s => s.Consumer!).ToArray();
        if (consumers.Length == 0) return;
        await using var command = dataSource.CreateCommand(Forget);
        command.Parameters.AddWithValue("names", consumers);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) Log.StateForgotten(logger, reader.GetString(0), writer);
    }
}
