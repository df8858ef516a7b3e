using System.Text.Json;
using System.Text.Json.Serialization;
using Bmm.Backfill;
using Bmm.Refresh;

namespace Bmm.Cli;

/// <summary>
/// What <c>run --json</c> and <c>backfill --json</c> print on standard output, one object per
/// process: the contract scripts and the benchmark read (docs/benchmark-json.md).
/// </summary>
public sealed record RunJson
{
    /// <summary>succeeded, skippedlocked, skippedpaused or failed.</summary>
    public required string Outcome { get; init; }
    public required string Strategy { get; init; }
    /// <summary>The run's row in bmm.run_history; 0 when it did not start (or for a backfill).</summary>
    public long RunId { get; init; }
    /// <summary>Seconds inside the job, around the refresh.</summary>
    public double Seconds { get; init; }
    public long AffectedModels { get; init; }
    public int Batches { get; init; }
    public long Inserted { get; init; }
    public long Updated { get; init; }
    public long Deleted { get; init; }
    public long Unchanged { get; init; }
    public long Clamped { get; init; }
    /// <summary>The run stopped at its budget: the rest waits for the next run.</summary>
    public bool BacklogLeft { get; init; }
    /// <summary>The position or watermark after the run, as text.</summary>
    public string? Watermark { get; init; }
    public Dictionary<string, double> Phases { get; init; } = [];
    public string? Error { get; init; }
    /// <summary>Peak resident memory of the process so far.</summary>
    public long PeakMemoryBytes { get; init; }

    public static RunJson Of(RunReport report) => new()
    {
        Outcome = report.Outcome.ToString().ToLowerInvariant(),
        Strategy = report.Strategy,
        RunId = report.RunId,
        Seconds = report.Seconds,
        AffectedModels = report.Result?.AffectedModels ?? 0,
        Batches = report.Result?.Batches ?? 0,
        Inserted = report.Result?.Inserted ?? 0,
        Updated = report.Result?.Updated ?? 0,
        Deleted = report.Result?.Deleted ?? 0,
        Unchanged = report.Result?.Unchanged ?? 0,
        Clamped = report.Result?.Clamped ?? 0,
        BacklogLeft = report.Result?.BacklogLeft ?? false,
        Watermark = report.Result?.Watermark,
        Phases = report.Result?.PhaseSeconds ?? [],
        Error = report.Error is null ? null : Database.Errors.Describe(report.Error),
        PeakMemoryBytes = PeakMemory(),
    };

    public static RunJson Of(BackfillReport report) => new()
    {
        Outcome = "succeeded",
        Strategy = "backfill",
        Seconds = report.Seconds,
        AffectedModels = report.Models + report.OrphanModels,
        Batches = report.Batches,
        Inserted = report.Inserted,
        Updated = report.Updated,
        Deleted = report.Deleted,
        Unchanged = report.Unchanged,
        Clamped = report.Clamped,
        PeakMemoryBytes = PeakMemory(),
    };

    private static long PeakMemory() => System.Diagnostics.Process.GetCurrentProcess().PeakWorkingSet64;

    public string ToJson() => JsonSerializer.Serialize(this, CliJson.Default.RunJson);

    public static RunJson Parse(string json) =>
        JsonSerializer.Deserialize(json, CliJson.Default.RunJson) ?? throw new JsonException("An empty run report.");
}

/// <summary>What <c>status --json</c> prints.</summary>
public sealed record StatusJson(
    bool Paused, string? SetbasedPosition, string Consumer, IReadOnlyList<Capture.ChangeLog.ConsumerReport> Consumers, string? BaselineWatermark,
    double LagSeconds, long QueueDepth, long PendingChanges, long ChangeLogBytes, IReadOnlyList<RunHistoryRow> Runs);

/// <summary>What <c>verify --json</c> prints.</summary>
public sealed record VerifyJson(long ExpectedRows, long Missing, long Extra, long Wrong, long Pending, long Repaired, int Queued, IReadOnlyList<Oracle.DriftSample> Samples);

/// <summary>Every JSON document the command line prints, serialized by generated code (the product is published with NativeAOT).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(RunJson))]
[JsonSerializable(typeof(StatusJson))]
[JsonSerializable(typeof(VerifyJson))]
internal sealed partial class CliJson : JsonSerializerContext;
