using System.Diagnostics;
using Bmm.Configuration;
using Bmm.Schema;
using Bmm.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Bmm.Seeding;

/// <summary>
/// Fills a database migrated with the site schema with a deterministic synthetic site: binary COPY
/// of the four source tables (triggers and foreign keys off for the load), then
/// "ModelBaseModelMetric" exactly as the oracle computes it, then the statistics, and finally the
/// change-log consumers and the baseline watermark moved past the seeded rows, so that a refresh
/// right after the seed has nothing to do. Rows are streamed, never held.
/// </summary>
public static class Seeder
{
    public const string ModelStep = "Model";
    public const string VersionStep = "ModelVersion";
    public const string MetricStep = "ModelVersionMetric";
    public const string ReviewStep = "ResourceReview";
    public const string AggregateStep = "ModelBaseModelMetric";
    public const string IndexStep = "indexes";
    public const string AnalyzeStep = "analyze";

    /// <summary>Rows between two progress reports.</summary>
    private const int ProgressEvery = 5_000;

    public static async Task<SeedReport> SeedAsync(NpgsqlDataSource dataSource, SeedOptions options, TimeProvider time, ILogger logger,
        ISeedProgress? progress, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var steps = new Dictionary<string, double>();
        await Migrator.RequireJobSchemaAsync(dataSource, cancellationToken);
        var profile = SeedProfile.For(options.Scale);
        var site = new SyntheticSite(profile, options.Seed);

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(connection, SeedSql.SessionMemory, cancellationToken);
        await using (var check = new NpgsqlCommand(SeedSql.FirstNonEmptyTable, connection))
        {
            if (await check.ExecuteScalarAsync(cancellationToken) is string table)
            {
                if (!options.Replace)
                    throw new UsageException($"The database already holds site data (\"{table}\" has rows): pass --replace to truncate the site's tables and seed again.");
                await ExecuteAsync(connection, SeedSql.TruncateSite, cancellationToken);
            }
        }
        ToolsLog.SeedStarted(logger, options.Scale.ToString().ToLowerInvariant(), options.Seed, profile.Models);

        // The exact row counts, for the progress bars: one cheap pass without the reviews' draws.
        long versions = 0, metrics = 0, reviews = 0;
        foreach (var model in site.Models())
        {
            versions += model.Versions.Count;
            metrics += model.Versions.Count(v => v.Metric is not null);
            reviews += model.ReviewCount;
        }

        if (profile.RebuildIndexes && !options.Captured) await ExecuteAsync(connection, SeedSql.DropSecondaryIndexes, cancellationToken);

        var quiet = !options.Captured;
        await TimeStepAsync(steps, ModelStep, () => LoadAsync(dataSource, ModelStep, SeedSql.CopyModel, profile.Models, quiet, progress, logger,
            (importer, count, ct) => WriteModelsAsync(site, importer, count, ct), cancellationToken));
        await TimeStepAsync(steps, VersionStep, () => LoadAsync(dataSource, VersionStep, SeedSql.CopyModelVersion, versions, quiet, progress, logger,
            (importer, count, ct) => WriteVersionsAsync(site, importer, count, ct), cancellationToken));
        await TimeStepAsync(steps, MetricStep, () => LoadAsync(dataSource, MetricStep, SeedSql.CopyModelVersionMetric, metrics, quiet, progress, logger,
            (importer, count, ct) => WriteMetricsAsync(site, importer, count, ct), cancellationToken));
        await TimeStepAsync(steps, ReviewStep, () => LoadAsync(dataSource, ReviewStep, SeedSql.CopyResourceReview, reviews, quiet, progress, logger,
            (importer, count, ct) => WriteReviewsAsync(site, importer, count, ct), cancellationToken));

        if (options.Captured)
        {
            await ExecuteAsync(connection, SeedSql.AnalyzeSource, cancellationToken);
            var zeroRows = await ExecuteScalarAsync(connection, SeedSql.AggregateRows, cancellationToken);
            var loaded = Stopwatch.GetElapsedTime(started).TotalSeconds;
            ToolsLog.SeedFinished(logger, profile.Models, versions, reviews, zeroRows, loaded);
            return new SeedReport(options.Scale, options.Seed, profile.Models, versions, metrics, reviews, zeroRows,
                SiteVocabulary.BaseModels.Length, profile.Users, steps, loaded, time.GetUtcNow()) { Captured = true };
        }

        long aggregateRows = 0;
        await TimeStepAsync(steps, AggregateStep, async () =>
        {
            progress?.Begin(AggregateStep, 2);
            // Statistics first, so that the aggregate's plan knows the table sizes.
            await ExecuteAsync(connection, SeedSql.AnalyzeSource, cancellationToken);
            progress?.Advance(AggregateStep, 1);
            aggregateRows = await ExecuteAsync(connection, SeedSql.FillAggregate, cancellationToken);
            progress?.Advance(AggregateStep, 1);
            progress?.Complete(AggregateStep);
        });

        await TimeStepAsync(steps, IndexStep, async () =>
        {
            progress?.Begin(IndexStep, SeedSql.SecondaryIndexes.Length);
            foreach (var index in SeedSql.SecondaryIndexes)
            {
                await ExecuteAsync(connection, index, cancellationToken);
                progress?.Advance(IndexStep, 1);
            }
            progress?.Complete(IndexStep);
        });

        var watermark = time.GetUtcNow();
        await TimeStepAsync(steps, AnalyzeStep, async () =>
        {
            progress?.Begin(AnalyzeStep, 1);
            await ExecuteAsync(connection, SeedSql.AnalyzeAggregate, cancellationToken);
            await ExecuteAsync(connection, SeedSql.ResetConsumers, cancellationToken);
            await using var setWatermark = new NpgsqlCommand(SeedSql.SetWatermark, connection);
            setWatermark.Parameters.AddWithValue("epoch_ms", watermark.ToUnixTimeMilliseconds());
            await setWatermark.ExecuteNonQueryAsync(cancellationToken);
            progress?.Advance(AnalyzeStep, 1);
            progress?.Complete(AnalyzeStep);
        });

        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        ToolsLog.SeedFinished(logger, profile.Models, versions, reviews, aggregateRows, seconds);
        return new SeedReport(options.Scale, options.Seed, profile.Models, versions, metrics, reviews, aggregateRows,
            SiteVocabulary.BaseModels.Length, profile.Users, steps, seconds, watermark);
    }

    private static async Task TimeStepAsync(Dictionary<string, double> steps, string step, Func<Task> work)
    {
        var started = Stopwatch.GetTimestamp();
        await work();
        steps[step] = Stopwatch.GetElapsedTime(started).TotalSeconds;
    }

    /// <summary>One table by binary COPY, in a transaction of its own that, when <paramref name="quiet"/>, fires no trigger and checks no foreign key.</summary>
    private static async Task LoadAsync(NpgsqlDataSource dataSource, string step, string copySql, long total, bool quiet, ISeedProgress? progress, ILogger logger,
        Func<NpgsqlBinaryImporter, RowCounter, CancellationToken, Task> write, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        progress?.Begin(step, total);
        var counter = new RowCounter(step, progress);
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
        {
            try
            {
                if (quiet)
                {
                    await using var role = new NpgsqlCommand(SeedSql.ReplicaRole, connection, transaction);
                    await role.ExecuteNonQueryAsync(cancellationToken);
                }
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
            {
                throw new UsageException("Seeding loads with triggers and foreign keys off (session_replication_role = replica), which needs a superuser: connect as one, or use the embedded server.", e);
            }
            await using (var importer = await connection.BeginBinaryImportAsync(copySql, cancellationToken))
            {
                await write(importer, counter, cancellationToken);
                await importer.CompleteAsync(cancellationToken);
            }
            await transaction.CommitAsync(cancellationToken);
        }
        counter.Flush();
        progress?.Complete(step);
        ToolsLog.SeedTableLoaded(logger, step, counter.Rows, Stopwatch.GetElapsedTime(started).TotalSeconds);
    }

    private static async Task WriteModelsAsync(SyntheticSite site, NpgsqlBinaryImporter importer, RowCounter counter, CancellationToken ct)
    {
        foreach (var model in site.Models())
        {
            await importer.StartRowAsync(ct);
            await importer.WriteAsync(model.Id, NpgsqlDbType.Integer, ct);
            await importer.WriteAsync(model.Name, NpgsqlDbType.Text, ct);
            await importer.WriteAsync(model.UserId, NpgsqlDbType.Integer, ct);
            await importer.WriteAsync(model.Type, NpgsqlDbType.Text, ct);
            // An enum's binary form is its label, so the labels go as text.
            await importer.WriteAsync(model.Status, NpgsqlDbType.Text, ct);
            await importer.WriteAsync(model.Availability, NpgsqlDbType.Text, ct);
            await WriteTextOrNullAsync(importer, model.Mode, ct);
            await importer.WriteAsync(model.NsfwLevel, NpgsqlDbType.Integer, ct);
            await importer.WriteAsync(model.Poi, NpgsqlDbType.Boolean, ct);
            await importer.WriteAsync(model.Minor, NpgsqlDbType.Boolean, ct);
            await WriteTimestampOrNullAsync(importer, model.LastVersionAt, ct);
            await importer.WriteAsync(model.UpdatedAt, NpgsqlDbType.Timestamp, ct);
            counter.Add();
        }
    }

    private static async Task WriteVersionsAsync(SyntheticSite site, NpgsqlBinaryImporter importer, RowCounter counter, CancellationToken ct)
    {
        foreach (var model in site.Models())
        {
            foreach (var version in model.Versions)
            {
                await importer.StartRowAsync(ct);
                await importer.WriteAsync(version.Id, NpgsqlDbType.Integer, ct);
                await importer.WriteAsync(model.Id, NpgsqlDbType.Integer, ct);
                await importer.WriteAsync(version.Name, NpgsqlDbType.Text, ct);
                await importer.WriteAsync(version.BaseModel, NpgsqlDbType.Text, ct);
                await WriteTextOrNullAsync(importer, version.BaseModelType, ct);
                await importer.WriteAsync(version.Status, NpgsqlDbType.Text, ct);
                await importer.WriteAsync(version.Availability, NpgsqlDbType.Text, ct);
                await importer.WriteAsync(version.NsfwLevel, NpgsqlDbType.Integer, ct);
                await WriteTimestampOrNullAsync(importer, version.PublishedAt, ct);
                await importer.WriteAsync(version.CreatedAt, NpgsqlDbType.Timestamp, ct);
                await importer.WriteAsync(version.UpdatedAt, NpgsqlDbType.Timestamp, ct);
                counter.Add();
            }
        }
    }

    private static async Task WriteMetricsAsync(SyntheticSite site, NpgsqlBinaryImporter importer, RowCounter counter, CancellationToken ct)
    {
        foreach (var model in site.Models())
        {
            foreach (var version in model.Versions)
            {
                if (version.Metric is not { } metric) continue;
                await importer.StartRowAsync(ct);
                await importer.WriteAsync(version.Id, NpgsqlDbType.Integer, ct);
                await importer.WriteAsync(metric.DownloadCount, NpgsqlDbType.Integer, ct);
                await importer.WriteAsync(metric.ImageCount, NpgsqlDbType.Integer, ct);
                await importer.WriteAsync(metric.ThumbsUpCount, NpgsqlDbType.Integer, ct);
                await importer.WriteAsync(metric.ThumbsDownCount, NpgsqlDbType.Integer, ct);
                await importer.WriteAsync(metric.CommentCount, NpgsqlDbType.Integer, ct);
                await importer.WriteAsync(metric.CollectedCount, NpgsqlDbType.Integer, ct);
                await importer.WriteAsync(metric.TippedCount, NpgsqlDbType.Integer, ct);
                await importer.WriteAsync(metric.TippedAmountCount, NpgsqlDbType.Integer, ct);
                await importer.WriteAsync(metric.GenerationCount, NpgsqlDbType.Integer, ct);
                await importer.WriteAsync(metric.EarnedAmount, NpgsqlDbType.Integer, ct);
                await importer.WriteAsync(metric.UpdatedAt, NpgsqlDbType.Timestamp, ct);
                counter.Add();
            }
        }
    }

    private static async Task WriteReviewsAsync(SyntheticSite site, NpgsqlBinaryImporter importer, RowCounter counter, CancellationToken ct)
    {
        var id = 0;
        foreach (var model in site.Models())
        {
            foreach (var review in site.Reviews(model))
            {
                await importer.StartRowAsync(ct);
                await importer.WriteAsync(++id, NpgsqlDbType.Integer, ct);
                await importer.WriteAsync(model.Id, NpgsqlDbType.Integer, ct);
                await importer.WriteAsync(review.VersionId, NpgsqlDbType.Integer, ct);
                await importer.WriteAsync(review.UserId, NpgsqlDbType.Integer, ct);
                await importer.WriteAsync(review.Rating, NpgsqlDbType.Integer, ct);
                await importer.WriteAsync(review.Recommended, NpgsqlDbType.Boolean, ct);
                await importer.WriteAsync(review.Exclude, NpgsqlDbType.Boolean, ct);
                await importer.WriteAsync(review.TosViolation, NpgsqlDbType.Boolean, ct);
                await importer.WriteAsync(review.Nsfw, NpgsqlDbType.Boolean, ct);
                await WriteTextOrNullAsync(importer, review.Details, ct);
                await importer.WriteAsync(review.CreatedAt, NpgsqlDbType.Timestamp, ct);
                await importer.WriteAsync(review.UpdatedAt, NpgsqlDbType.Timestamp, ct);
                counter.Add();
            }
        }
    }

    private static Task WriteTextOrNullAsync(NpgsqlBinaryImporter importer, string? value, CancellationToken ct) =>
        value is null ? importer.WriteNullAsync(ct) : importer.WriteAsync(value, NpgsqlDbType.Text, ct);

    private static Task WriteTimestampOrNullAsync(NpgsqlBinaryImporter importer, DateTime? value, CancellationToken ct) =>
        value is { } at ? importer.WriteAsync(at, NpgsqlDbType.Timestamp, ct) : importer.WriteNullAsync(ct);

    private static async Task<long> ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<long> ExecuteScalarAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Counts the rows written and reports them in steps, not per row.</summary>
    private sealed class RowCounter(string step, ISeedProgress? progress)
    {
        private long _unreported;

        public long Rows { get; private set; }

        public void Add()
        {
            Rows++;
            if (++_unreported < ProgressEvery) return;
            progress?.Advance(step, _unreported);
            _unreported = 0;
        }

        public void Flush()
        {
            if (_unreported > 0) progress?.Advance(step, _unreported);
            _unreported = 0;
        }
    }
}
