using System.Diagnostics;
using Bmm.Capture;
using Bmm.Recompute;
using Bmm.Refresh;
using Bmm.Telemetry;
using Bmm.Writing;
using Npgsql;

namespace Bmm.Strategies.ReviewsMv;

/// <summary>
/// Baseline: the plan's Option C, faithfully. Review stats are pre-aggregated in the
/// materialized view bmm.review_stats, refreshed (CONCURRENTLY) by the first run after
/// Job:ReviewsMvRefreshMinutes; the changed models are found and written as setbased does
/// (<see cref="SweepPipeline"/>, with a consumer of its own), but each batch joins the view
/// for the thumbs-up count instead of counting reviews. A run that refreshed the view then also
/// recomputes the models whose rows' counts differ from it, so that the table converges at each
/// refresh; the refresh is recorded in the last transaction of that recomputation, so a run that
/// fails before it ends refreshes again.
/// </summary>
/// <remarks>
/// The plan's flaw, kept: between refreshes thumbsUpCount is stale by up to the interval. A
/// review change is in the change log and its model is recomputed at once, but from the view as
/// of its last refresh, so the count stays as it was until the next refresh; any other change of
/// that model meanwhile writes the view's old count too.
/// </remarks>
public sealed class ReviewsMvStrategy : IRefreshStrategy
{
    /// <summary>Its change-log consumer, apart from setbased's so that each keeps its own position.</summary>
    public const string Consumer = "reviews-mv";

    private static readonly SweepPipeline Pipeline = new("reviews-mv", Consumer, RefreshModelsAsync);

    public string Name => "reviews-mv";

    string? IRefreshStrategy.Consumer => Consumer;

    /// <summary>Reconciled as setbased is: drift (its stale counts included) is recomputed exactly.</summary>
    public Reconciliation Reconciliation => Reconciliation.Table;

    /// <summary>Drifted models are recomputed from the site's tables, every pair recounted.</summary>
    public Task<WriteCounts> RepairAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, CancellationToken cancellationToken) =>
        Recomputer.RefreshModelsAsync(connection, transaction, modelIds, Recount.Everything, cancellationToken);

    public string Description => "Baseline: the plan's Option C, thumbs-up counts from a materialized view refreshed every Job:ReviewsMvRefreshMinutes (stale in between).";

    public async Task RefreshAsync(RefreshContext context, RefreshResult result, CancellationToken cancellationToken)
    {
        var budget = Stopwatch.StartNew();
        // Registered on first use where setbased is, so that switching strategies loses nothing.
        await context.Transactions.RunAsync(async (connection, transaction, ct) =>
        {
            await ChangeLog.RegisterConsumerAtAsync(connection, transaction, Consumer, ChangeLog.SetBasedConsumer, ct);
            return true;
        }, cancellationToken);

        var now = context.Time.GetUtcNow();
        var interval = context.Options.ReviewsMvRefreshMinutes;
        var last = await LastRefreshAsync(context.DataSource, cancellationToken);
        double? refreshSeconds = null;
        if (last is { } refreshedAt && now - refreshedAt < TimeSpan.FromMinutes(interval))
            Log.ReviewStatsNotDue(context.Logger, refreshedAt, interval);
        else
            refreshSeconds = await RefreshViewAsync(context, result, cancellationToken);

        await Pipeline.RunAsync(context, result, budget, cancellationToken);
        // After the pipeline, which has already brought the models it recomputed in line with the view.
        if (refreshSeconds is { } seconds) await ConvergeAsync(context, result, now, seconds, cancellationToken);
    }

    private static async Task<double> RefreshViewAsync(RefreshContext context, RefreshResult result, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        await context.Transactions.RunAsync(async (connection, transaction, ct) =>
        {
            await using var refresh = new NpgsqlCommand(ReviewsMvSql.RefreshView, connection, transaction);
            return await refresh.ExecuteNonQueryAsync(ct);
        }, cancellationToken);
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        result.AddPhase("refresh_mv", seconds);
        return seconds;
    }

    /// <summary>
    /// Recomputes the models whose rows' counts differ from the view, and records the refresh in
    /// the last transaction. Not bounded by the run's budget: the rest would wait for the next refresh.
    /// </summary>
    private static async Task ConvergeAsync(RefreshContext context, RefreshResult result, DateTimeOffset now, double seconds, CancellationToken cancellationToken)
    {
        var stale = await result.TimeAsync("read_stale_models", () => StaleModelsAsync(context.DataSource, cancellationToken));
        Log.ReviewStatsRefreshed(context.Logger, seconds, stale.Length);
        await Pipeline.WriteModelsAsync(context, result, stale, async (connection, transaction, ct) =>
        {
            await using var record = new NpgsqlCommand(ReviewsMvSql.RecordRefresh, connection, transaction);
            record.Parameters.AddWithValue("refreshed_at", now.ToUniversalTime());
            record.Parameters.AddWithValue("seconds", seconds);
            await record.ExecuteNonQueryAsync(ct);
        }, cancellationToken);
    }

    private static async Task<DateTimeOffset?> LastRefreshAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ReviewsMvSql.LastRefresh);
        return await command.ExecuteScalarAsync(cancellationToken) is DateTime at ? new DateTimeOffset(at, TimeSpan.Zero) : null;
    }

    private static async Task<int[]> StaleModelsAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ReviewsMvSql.StaleModels);
        return (int[])(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// Recomputes the given models with the thumbs-up counts of the view and writes only what
    /// differs; every count comes from the view, so nothing is recounted.
    /// </summary>
    private static async Task<WriteCounts> RefreshModelsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] modelIds, Recount recount, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ReviewsMvSql.RefreshModels, connection, transaction);
        command.Parameters.AddWithValue("ids", modelIds);
        return await Recomputer.ExecuteBatchAsync(command, cancellationToken);
    }
}
