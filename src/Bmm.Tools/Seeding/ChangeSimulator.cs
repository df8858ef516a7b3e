using System.Diagnostics;
using Bmm.Configuration;
using Bmm.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Bmm.Seeding;

/// <summary>
/// Applies to the site's tables, in realistic transactions, the changes the site sees in a number
/// of minutes (the churn measured in reference-system.md): the metric job's bulk updates of
/// "ModelVersionMetric", single-row review creations, edits and hard deletes, versions created,
/// published, unpublished and moved between base models, model edits and the odd model deletion.
/// Popularity is skewed: most changes fall on the most downloaded versions, so the same models
/// change again and again. Every "updatedAt" comes from a simulated clock advancing one minute per
/// simulated minute. Deterministic: on the same data, the same seed makes the same changes.
/// </summary>
public sealed class ChangeSimulator(NpgsqlDataSource dataSource, ILogger? logger = null, TimeProvider? time = null)
{
    // The site's churn per minute (reference-system.md, "Sizes"), multiplied by the rate.
    public const double SiteMetricRowsPerMinute = 2_100;
    public const double SiteReviewChangesPerMinute = 35;
    public const double SiteModelEditsPerMinute = 35;
    public const double SiteVersionsCreatedPerMinute = 1.5;
    public const double SiteVersionsPublishedPerMinute = 0.5;
    public const double SiteVersionsUnpublishedPerMinute = 0.5;
    public const double SiteVersionsMovedPerMinute = 0.5;
    public const double SiteModelDeletionsPerMinute = 3.0 / 60;

    /// <summary>The metric job writes its rows in a few bulk statements a minute.</summary>
    private const int MetricStatementsPerMinute = 4;
    /// <summary>How many popular versions the traffic falls on, per metric row a minute.</summary>
    private const int HotVersionsPerMetricRow = 25;

    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public async Task<SimulationSummary> RunAsync(SimulationOptions options, CancellationToken cancellationToken)
    {
        if (options.Minutes < 1) throw new UsageException("--minutes must be at least 1.");
        if (options.Rate is not (> 0 and <= 1000)) throw new UsageException("--rate must be 'site' or a multiplier above 0 and at most 1000.");
        var wall = Stopwatch.GetTimestamp();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var run = new Run(connection, options, new Random(options.Seed), cancellationToken);
        await run.LoadAsync(_time);
        ToolsLog.SimulationStarted(_logger, options.Minutes, options.Rate, run.Start);
        var summary = run.Summary;
        double metricModels = 0, reviewModels = 0;
        for (var minute = 0; minute < options.Minutes; minute++)
        {
            var (metricModelCount, reviewModelCount) = await run.SimulateMinuteAsync(minute);
            metricModels += metricModelCount;
            reviewModels += reviewModelCount;
            ToolsLog.SimulatedMinute(_logger, minute + 1, run.Start.AddMinutes(minute + 1), summary.MetricRows,
                summary.ReviewsCreated + summary.ReviewsEdited + summary.ReviewsDeleted, summary.ModelEdits);
        }
        summary.SimulatedEnd = run.Start.AddMinutes(options.Minutes);
        summary.MetricModelsPerMinute = metricModels / options.Minutes;
        summary.ReviewModelsPerMinute = reviewModels / options.Minutes;
        summary.DistinctModels = run.TouchedModels.Count;
        summary.WallSeconds = Stopwatch.GetElapsedTime(wall).TotalSeconds;
        ToolsLog.SimulationFinished(_logger, options.Minutes, summary.WallSeconds, summary.Transactions, summary.DistinctModels);
        return summary;
    }

    private enum ChangeKind
    {
        MetricFlush,
        Review,
        ModelEdit,
        VersionCreate,
        VersionPublish,
        VersionUnpublish,
        VersionMove,
        ModelDelete,
    }

    /// <summary>One change of a minute's plan: when, what, and for a metric flush which share of the rows.</summary>
    private readonly record struct PlannedChange(double Second, int Order, ChangeKind Kind, int Chunk);

    /// <summary>The state of one simulation: the connection, the random stream, the clock, the ids.</summary>
    private sealed class Run(NpgsqlConnection connection, SimulationOptions options, Random random, CancellationToken cancellationToken)
    {
        private int[] _hotVersionIds = [];
        private int[] _hotModelIds = [];
        private string[] _hotBaseModels = [];
        private double[] _hotCumulative = [];
        private int _maxModelId, _maxVersionId, _nextReviewId, _users;

        public DateTime Start { get; private set; }
        public SimulationSummary Summary { get; private set; } = null!;
        public HashSet<int> TouchedModels { get; } = [];

        public async Task LoadAsync(TimeProvider time)
        {
            await using (var bounds = new NpgsqlCommand(SimulateSql.Bounds, connection))
            await using (var reader = await bounds.ExecuteReaderAsync(cancellationToken))
            {
                await reader.ReadAsync(cancellationToken);
                _maxModelId = reader.GetInt32(0);
                _maxVersionId = reader.GetInt32(1);
                _nextReviewId = reader.GetInt32(2) + 1;
            }
            if (_maxModelId == 0) throw new UsageException("The database has no models to change: run `bmm seed` first.");
            // The seed has about 0.7 users per model id (2 users per model, ids 2.8 apart).
            _users = Math.Max(1_000, (int)(_maxModelId * 5L / 7));

            DateTime start;
            if (options.Start is { } given) start = given;
            else
            {
                await using var watermark = new NpgsqlCommand(SimulateSql.Watermark, connection);
                start = await watermark.ExecuteScalarAsync(cancellationToken) is long epochMs
                    ? DateTimeOffset.FromUnixTimeMilliseconds(epochMs).UtcDateTime
                    : time.GetUtcNow().UtcDateTime;
            }
            // Millisecond precision, as timestamp(3) stores it.
            Start = new DateTime(start.Ticks - start.Ticks % TimeSpan.TicksPerMillisecond, DateTimeKind.Utc);

            var limit = (int)Math.Clamp(SiteMetricRowsPerMinute * options.Rate * HotVersionsPerMetricRow, 500, 250_000);
            var versionIds = new List<int>(limit);
            var modelIds = new List<int>(limit);
            var baseModels = new List<string>(limit);
            await using (var hot = new NpgsqlCommand(SimulateSql.HotVersions, connection))
            {
                hot.Parameters.AddWithValue("limit", limit);
                await using var reader = await hot.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    versionIds.Add(reader.GetInt32(0));
                    modelIds.Add(reader.GetInt32(1));
                    baseModels.Add(reader.GetString(2));
                }
            }
            if (versionIds.Count == 0) throw new UsageException("The database has no Published version with metrics to change: run `bmm seed` first.");
            _hotVersionIds = [.. versionIds];
            _hotModelIds = [.. modelIds];
            _hotBaseModels = [.. baseModels];
            // Zipf-like over the download rank: the head changes every minute, the tail now and then.
            _hotCumulative = SiteVocabulary.Cumulative(_hotVersionIds.Length, 1.0, offset: 10);
            Summary = new SimulationSummary { Minutes = options.Minutes, Rate = options.Rate, Seed = options.Seed, SimulatedStart = Start };
        }

        public async Task<(int MetricModels, int ReviewModels)> SimulateMinuteAsync(int minute)
        {
            var minuteStart = Start.AddMinutes(minute);
            var rate = options.Rate;
            var plan = new List<PlannedChange>();
            void Add(ChangeKind kind, double mean)
            {
                for (var n = random.Poisson(mean); n > 0; n--) plan.Add(new(random.NextDouble() * 60, plan.Count, kind, 0));
            }

            // The metric rows of this minute: distinct popular versions, written in a few bulk statements.
            var metricTarget = Math.Min(random.Poisson(SiteMetricRowsPerMinute * rate), _hotVersionIds.Length / 2);
            var chosen = new List<int>(metricTarget);
            var seen = new HashSet<int>();
            for (var attempt = 0; chosen.Count < metricTarget && attempt < metricTarget * 50; attempt++)
            {
                var index = SiteVocabulary.Draw(random, _hotCumulative);
                if (seen.Add(index)) chosen.Add(index);
            }
            var chunks = chosen.Chunk(Math.Max(1, (chosen.Count + MetricStatementsPerMinute - 1) / MetricStatementsPerMinute)).ToArray();
            for (var c = 0; c < chunks.Length; c++)
                plan.Add(new((c + random.NextDouble()) * 60.0 / chunks.Length, plan.Count, ChangeKind.MetricFlush, c));
            Add(ChangeKind.Review, SiteReviewChangesPerMinute * rate);
            Add(ChangeKind.ModelEdit, SiteModelEditsPerMinute * rate);
            Add(ChangeKind.VersionCreate, SiteVersionsCreatedPerMinute * rate);
            Add(ChangeKind.VersionPublish, SiteVersionsPublishedPerMinute * rate);
            Add(ChangeKind.VersionUnpublish, SiteVersionsUnpublishedPerMinute * rate);
            Add(ChangeKind.VersionMove, SiteVersionsMovedPerMinute * rate);
            Add(ChangeKind.ModelDelete, SiteModelDeletionsPerMinute * rate);
            plan.Sort((a, b) => a.Second != b.Second ? a.Second.CompareTo(b.Second) : a.Order.CompareTo(b.Order));

            var metricModels = new HashSet<int>();
            var reviewModels = new HashSet<int>();
            foreach (var change in plan)
            {
                var at = minuteStart.AddTicks((long)(change.Second * TimeSpan.TicksPerSecond));
                at = DateTime.SpecifyKind(new DateTime(at.Ticks - at.Ticks % TimeSpan.TicksPerMillisecond), DateTimeKind.Unspecified);
                switch (change.Kind)
                {
                    case ChangeKind.MetricFlush:
                        await FlushMetricsAsync(chunks[change.Chunk], at, metricModels);
                        break;
                    case ChangeKind.Review:
                        await ChangeReviewAsync(at, reviewModels);
                        break;
                    case ChangeKind.ModelEdit:
                        await EditModelAsync(at);
                        break;
                    case ChangeKind.VersionCreate:
                        await CreateVersionAsync(at);
                        break;
                    case ChangeKind.VersionPublish:
                        await ChangeVersionAsync(SimulateSql.FindUnpublishedVersion, SimulateSql.PublishVersion, null, at, () => Summary.VersionsPublished++);
                        break;
                    case ChangeKind.VersionUnpublish:
                        await ChangeVersionAsync(SimulateSql.FindPublishedVersion, SimulateSql.UnpublishVersion, null, at, () => Summary.VersionsUnpublished++);
                        break;
                    case ChangeKind.VersionMove:
                        await ChangeVersionAsync(SimulateSql.FindPublishedVersion, SimulateSql.MoveVersion, SiteVocabulary.BaseModel(random), at, () => Summary.VersionsMoved++);
                        break;
                    case ChangeKind.ModelDelete:
                        await DeleteModelAsync();
                        break;
                }
            }
            return (metricModels.Count, reviewModels.Count);
        }

        private async Task FlushMetricsAsync(int[] hotIndexes, DateTime at, HashSet<int> metricModels)
        {
            var rows = hotIndexes.Select(i => (Version: _hotVersionIds[i], Model: _hotModelIds[i])).OrderBy(r => r.Version).ToArray();
            var ids = new int[rows.Length];
            var downloads = new int[rows.Length];
            var images = new int[rows.Length];
            var generations = new int[rows.Length];
            for (var i = 0; i < rows.Length; i++)
            {
                ids[i] = rows[i].Version;
                downloads[i] = random.Chance(0.85) ? 1 + random.Geometric(0.4) : 0;
                images[i] = random.Chance(0.3) ? 1 + random.Geometric(0.6) : 0;
                generations[i] = random.Chance(0.4) ? 1 + random.Geometric(0.3) : 0;
                metricModels.Add(rows[i].Model);
                TouchedModels.Add(rows[i].Model);
            }
            await using var command = new NpgsqlCommand(SimulateSql.IncrementMetrics, connection);
            command.Parameters.AddWithValue("ids", ids);
            command.Parameters.AddWithValue("downloads", downloads);
            command.Parameters.AddWithValue("images", images);
            command.Parameters.AddWithValue("generations", generations);
            command.Parameters.AddWithValue("at", at);
            Summary.MetricRows += await command.ExecuteNonQueryAsync(cancellationToken);
            Summary.MetricStatements++;
            Summary.Transactions++;
        }

        private async Task ChangeReviewAsync(DateTime at, HashSet<int> reviewModels)
        {
            var hot = SiteVocabulary.Draw(random, _hotCumulative);
            var versionId = _hotVersionIds[hot];
            var modelId = _hotModelIds[hot];
            reviewModels.Add(modelId);
            TouchedModels.Add(modelId);
            var roll = random.NextDouble();
            int? reviewId = null;
            if (roll >= 0.6)
            {
                await using var find = new NpgsqlCommand(SimulateSql.FindReview, connection);
                find.Parameters.AddWithValue("version_id", versionId);
                find.Parameters.AddWithValue("user_id", random.Skewed(_users));
                reviewId = await find.ExecuteScalarAsync(cancellationToken) as int?;
            }
            if (reviewId is not { } id)
            {
                // A new review (also when there was none to edit or delete); a user who already
                // reviewed the version is skipped, as the site's unique key would refuse them.
                for (var attempt = 0; attempt < 3; attempt++)
                {
                    var recommended = random.Chance(0.92);
                    var inserted = await ExecuteAsync(SimulateSql.CreateReview, at,
                        ("id", _nextReviewId), ("version_id", versionId), ("user_id", random.Skewed(_users)),
                        ("rating", recommended ? 5 : 2), ("recommended", recommended), ("nsfw", random.Chance(0.15)),
                        ("details", random.Chance(0.25) ? SiteVocabulary.Pick(random, SiteVocabulary.ReviewTexts) : DBNull.Value));
                    if (inserted == 0) continue;
                    _nextReviewId++;
                    Summary.ReviewsCreated++;
                    Summary.Transactions++;
                    return;
                }
                return;
            }
            if (roll >= 0.85)
            {
                await ExecuteAsync(SimulateSql.DeleteReview, null, ("id", id));
                Summary.ReviewsDeleted++;
                Summary.Transactions++;
                return;
            }
            var edit = random.NextDouble();
            if (edit < 0.40) await ExecuteAsync(SimulateSql.ToggleReviewRecommended, at, ("id", id));
            else if (edit < 0.50) await ExecuteAsync(SimulateSql.ExcludeReview, at, ("id", id));
            else if (edit < 0.55) await ExecuteAsync(SimulateSql.FlagReviewTosViolation, at, ("id", id));
            else await ExecuteAsync(SimulateSql.EditReviewText, at, ("id", id),
                ("details", SiteVocabulary.Pick(random, SiteVocabulary.ReviewTexts)), ("rating", random.Next(1, 6)));
            Summary.ReviewsEdited++;
            Summary.Transactions++;
        }

        private async Task EditModelAsync(DateTime at)
        {
            var modelId = random.Chance(0.6) ? _hotModelIds[SiteVocabulary.Draw(random, _hotCumulative)] : await FindModelAsync();
            if (modelId is not { } id) return;
            var kind = random.NextDouble();
            var denormalized = kind < 0.65;
            var changed = kind switch
            {
                < 0.35 => await ExecuteAsync(SimulateSql.SetModelNsfwLevel, at, ("id", id), ("nsfw_level", SiteVocabulary.Pick(random, SiteVocabulary.NsfwLevels))),
                < 0.45 => await ExecuteAsync(SimulateSql.ToggleModelPublished, at, ("id", id)),
                < 0.50 => await ExecuteAsync(SimulateSql.ToggleModelPoi, at, ("id", id)),
                < 0.55 => await ExecuteAsync(SimulateSql.ToggleModelMinor, at, ("id", id)),
                < 0.60 => await ExecuteAsync(SimulateSql.SetModelAvailability, at, ("id", id), ("availability", SiteVocabulary.Pick(random, SiteVocabulary.Availabilities))),
                < 0.65 => await ExecuteAsync(SimulateSql.ToggleModelArchived, at, ("id", id)),
                _ => await ExecuteAsync(SimulateSql.RenameModel, at, ("id", id), ("name", SiteVocabulary.ModelName(random))),
            };
            if (changed == 0) return;
            Summary.ModelEdits++;
            if (denormalized) Summary.DenormalizedEdits++;
            Summary.Transactions++;
            TouchedModels.Add(id);
        }

        private async Task CreateVersionAsync(DateTime at)
        {
            var fromHot = random.Chance(0.6);
            var hot = SiteVocabulary.Draw(random, _hotCumulative);
            var modelId = fromHot ? _hotModelIds[hot] : await FindModelAsync();
            if (modelId is not { } model) return;
            var baseModel = fromHot && random.Chance(0.8) ? _hotBaseModels[hot] : SiteVocabulary.BaseModel(random);
            var id = _maxVersionId + 1;
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            if (await ExecuteAsync(SimulateSql.CreateVersion, at, ("id", id), ("model_id", model), ("name", $"v{id}"), ("base_model", baseModel)) == 0)
            {
                await transaction.RollbackAsync(cancellationToken);
                return;
            }
            await ExecuteAsync(SimulateSql.CreateVersionMetric, at, ("id", id));
            await ExecuteAsync(SimulateSql.TouchModelLastVersion, at, ("model_id", model));
            await transaction.CommitAsync(cancellationToken);
            _maxVersionId = id;
            Summary.VersionsCreated++;
            Summary.Transactions++;
            TouchedModels.Add(model);
        }

        private async Task ChangeVersionAsync(string findSql, string changeSql, string? baseModel, DateTime at, Action count)
        {
            int versionId, modelId;
            await using (var find = new NpgsqlCommand(findSql, connection))
            {
                find.Parameters.AddWithValue("from", random.Next(1, _maxVersionId + 1));
                await using var reader = await find.ExecuteReaderAsync(cancellationToken);
                if (!await reader.ReadAsync(cancellationToken)) return;
                (versionId, modelId) = (reader.GetInt32(0), reader.GetInt32(1));
            }
            var changed = baseModel is null
                ? await ExecuteAsync(changeSql, at, ("id", versionId))
                : await ExecuteAsync(changeSql, at, ("id", versionId), ("base_model", baseModel));
            if (changed == 0) return;
            count();
            Summary.Transactions++;
            TouchedModels.Add(modelId);
        }

        private async Task DeleteModelAsync()
        {
            if (await FindModelAsync() is not { } id) return;
            if (await ExecuteAsync(SimulateSql.DeleteModel, null, ("id", id)) == 0) return;
            Summary.ModelsDeleted++;
            Summary.Transactions++;
            TouchedModels.Add(id);
        }

        private async Task<int?> FindModelAsync()
        {
            await using var find = new NpgsqlCommand(SimulateSql.FindModel, connection);
            find.Parameters.AddWithValue("from", random.Next(1, _maxModelId + 1));
            return await find.ExecuteScalarAsync(cancellationToken) as int?;
        }

        /// <summary>One statement: in autocommit, or in the transaction open on the connection.</summary>
        private async Task<int> ExecuteAsync(string sql, DateTime? at, params (string Name, object Value)[] parameters)
        {
            await using var command = new NpgsqlCommand(sql, connection);
            if (at is { } time) command.Parameters.AddWithValue("at", time);
            foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
            return await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }
}
