using System.Data;
using Bmm.Configuration;
using Bmm.Database;
using Bmm.Refresh;
using Bmm.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.Reconcile;

/// <summary>One model found drifted, with the first difference of its kind.</summary>
public sealed record DriftedModel(int ModelId, string Kind, string Sample);

/// <summary>What the check of one slice found, before any repair.</summary>
public sealed record ReconcileCheck(int Low, int High, bool Wrapped, IReadOnlyList<DriftedModel> Drift);

/// <summary>What one reconciliation slice checked and found.</summary>
public sealed record ReconcileReport(int Low, int High, bool Wrapped, IReadOnlyList<DriftedModel> Drift, long RowsRepaired);

/// <summary>
/// Continuous reconciliation: each call checks the next slice of model ids against the oracle at
/// one consistent point (one REPEATABLE READ snapshot; models with changes captured but not yet
/// applied by the consumer are skipped, they are pending, not drifted), counts and logs what
/// differs, and repairs it as the strategy keeps its table (<see cref="IRefreshStrategy.RepairAsync"/>):
/// for one that keeps state, the state with the visible rows. Slices are sized so that the
/// whole table is checked once per <see cref="JobOptions.ReconcilePassHours"/>. Call it under the runner lock.
/// </summary>
public sealed class Reconciler(NpgsqlDataSource dataSource, JobOptions options, ILogger logger, JobMetrics metrics)
{
    private const int MinimumSliceModels = 500;
    private const int SamplesLogged = 5;

    /// <summary>The consumer whose pending changes are not drift: a reconciled strategy reads the change log.</summary>
    private static string ConsumerOf(IRefreshStrategy strategy) =>
        strategy is { Reconciliation: not Reconciliation.None, Consumer: { } consumer }
            ? consumer
            : throw new InvalidOperationException($"The strategy {strategy.Name} is not reconciled.");

    /// <summary>Whose lag and pending rows describe a deployment of this strategy: its own consumer, setbased's for the baselines.</summary>
    public static string LagConsumerOf(Refresh.IRefreshStrategy strategy) => strategy.Consumer ?? Capture.ChangeLog.SetBasedConsumer;

    /// <summary>Checks and repairs the next slice of <paramref name="strategy"/>'s table, called about every <paramref name="interval"/>.</summary>
    public async Task<ReconcileReport> CheckNextSliceAsync(IRefreshStrategy strategy, TimeSpan interval, CancellationToken cancellationToken) =>
        await RepairAsync(strategy, await CheckAsync(strategy, interval, cancellationToken), cancellationToken);

    /// <summary>
    /// The check alone: the next slice compared with the oracle in one read-only snapshot. It writes
    /// nothing, so `follow` runs it beside its applies; <see cref="RepairAsync"/> then repairs what
    /// it found and moves the cursor, under the runner lock.
    /// </summary>
    public async Task<ReconcileCheck> CheckAsync(IRefreshStrategy strategy, TimeSpan interval, CancellationToken cancellationToken)
    {
        var consumer = ConsumerOf(strategy);
        var includeState = strategy.Reconciliation == Reconciliation.State;
        await using (var ensure = dataSource.CreateCommand(ReconcileSql.EnsureCursor))
        {
            ensure.Parameters.AddWithValue("consumer", consumer);
            await ensure.ExecuteNonQueryAsync(cancellationToken);
        }

        int low, high;
        bool wrapped;
        var drift = new List<DriftedModel>();
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        await using (var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken))
        {
            await using (var readOnly = new NpgsqlCommand(ReconcileSql.ReadOnly, connection, transaction))
                await readOnly.ExecuteNonQueryAsync(cancellationToken);
            low = await ScalarAsync<int>(connection, transaction, ReconcileSql.ReadCursor, cancellationToken, ("consumer", consumer));
            var models = SliceModels(await ScalarAsync<long>(connection, transaction, ReconcileSql.EstimatedModels, cancellationToken), interval);
            await using (var end = new NpgsqlCommand(ReconcileSql.SliceEnd, connection, transaction))
            {
                end.Parameters.AddWithValue("low", low);
                end.Parameters.AddWithValue("models", models);
                var next = await end.ExecuteScalarAsync(cancellationToken);
                wrapped = next is null;
                high = wrapped ? int.MaxValue : (int)next!;
            }
            await using (var check = new NpgsqlCommand(ReconcileSql.Check, connection, transaction) { CommandTimeout = 0 })
            {
                check.Parameters.AddWithValue("consumer", consumer);
                check.Parameters.AddWithValue("include_state", includeState);
                check.Parameters.AddWithValue("low", low);
                check.Parameters.AddWithValue("high", high);
                await using var reader = await check.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                    drift.Add(new DriftedModel(reader.GetInt32(0), reader.GetString(1), reader.GetString(2)));
            }
            await transaction.CommitAsync(cancellationToken);
        }
        return new ReconcileCheck(low, high, wrapped, drift);
    }

    /// <summary>Counts and repairs what a check found (re-deriving the models from their current state), then moves the cursor past its slice.</summary>
    public async Task<ReconcileReport> RepairAsync(IRefreshStrategy strategy, ReconcileCheck check, CancellationToken cancellationToken)
    {
        var consumer = ConsumerOf(strategy);
        var (low, high, wrapped, drift) = check;
        long repaired = 0;
        var driftedIds = drift.Select(d => d.ModelId).Distinct().Order().ToArray();
        if (driftedIds.Length > 0)
        {
            foreach (var kind in drift.GroupBy(d => d.Kind))
                metrics.Drift.Add(kind.Count(), new KeyValuePair<string, object?>("kind", kind.Key), new KeyValuePair<string, object?>("source", "reconcile"));
            Log.ReconcileDrift(logger, consumer, driftedIds.Length, low, high,
                string.Join("; ", drift.Take(SamplesLogged).Select(d => $"model {d.ModelId} {d.Kind}: {d.Sample}")));
            // Repair re-derives the models from their current state, so writes committed since the check are respected.
            var transactions = new Transactions(dataSource, options, logger, metrics);
            foreach (var chunk in driftedIds.Chunk(options.BatchSize))
                repaired += (await transactions.RunAsync((c, t, ct) => strategy.RepairAsync(c, t, chunk, ct), cancellationToken)).Written;
            Log.Repaired(logger, repaired);
        }

        await using (var advance = dataSource.CreateCommand(ReconcileSql.Advance))
        {
            advance.Parameters.AddWithValue("consumer", consumer);
            advance.Parameters.AddWithValue("high", high);
            advance.Parameters.AddWithValue("wrapped", wrapped);
            advance.Parameters.AddWithValue("checked", (long)(high == int.MaxValue ? 0 : high - low));
            advance.Parameters.AddWithValue("drifted", (long)driftedIds.Length);
            await advance.ExecuteNonQueryAsync(cancellationToken);
        }
        return new ReconcileReport(low, high, wrapped, drift, repaired);
    }

    /// <summary>Enough models per slice to check the whole table once per pass, with half again as margin.</summary>
    private int SliceModels(long estimatedModels, TimeSpan interval)
    {
        var slicesPerPass = Math.Max(1, options.ReconcilePassHours * 3600 / Math.Max(1, interval.TotalSeconds));
        return (int)Math.Clamp(Math.Ceiling(estimatedModels / slicesPerPass * 1.5), MinimumSliceModels, int.MaxValue);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        return (T)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}
