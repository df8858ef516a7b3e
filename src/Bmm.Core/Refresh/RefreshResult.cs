using System.Diagnostics;
using Bmm.Telemetry;
using Bmm.Writing;

namespace Bmm.Refresh;

/// <summary>What one refresh did. Counters are filled in as the work goes.</summary>
public sealed class RefreshResult
{
    public long AffectedModels { get; set; }
    public int Batches { get; set; }
    public long Inserted { get; set; }
    public long Updated { get; set; }
    public long Deleted { get; set; }
    public long Unchanged { get; set; }
    public long Clamped { get; set; }
    /// <summary>Work left for the next run because the run's budget ran out.</summary>
    public bool BacklogLeft { get; set; }
    /// <summary>The strategy's watermark or log position after the run, as text.</summary>
    public string? Watermark { get; set; }
    public Dictionary<string, double> PhaseSeconds { get; } = [];

    /// <summary>Times <paramref name="work"/> and adds it to the phase <paramref name="phase"/>.</summary>
    public async Task<T> TimeAsync<T>(string phase, Func<Task<T>> work)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            return await work();
        }
        finally
        {
            AddPhase(phase, Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }

    public async Task TimeAsync(string phase, Func<Task> work) =>
        await TimeAsync(phase, async () => { await work(); return 0; });

    /// <summary>
    /// Records one committed unit of work: <paramref name="models"/> recomputed (none: nothing is
    /// counted) and what the write path did, its clamps logged and counted. Called only once the
    /// unit committed: a retried attempt must not count twice.
    /// </summary>
    public void Record(RefreshContext context, long models, WriteCounts write)
    {
        if (models == 0) return;
        Batches++;
        AffectedModels += models;
        AddWrite(write.Inserted, write.Updated, write.Deleted, write.Unchanged);
        foreach (var pair in write.ClampedPairs())
        {
            Clamped++;
            context.Metrics.Clamps.Add(1);
            Log.Clamped(context.Logger, pair.ModelId, pair.BaseModel, pair.Downloads, pair.Images);
        }
    }

    public void AddPhase(string phase, double seconds)
    {
        lock (PhaseSeconds)
        {
            PhaseSeconds[phase] = PhaseSeconds.GetValueOrDefault(phase) + seconds;
        }
    }

    /// <summary>Adds the counts of one written batch (thread-safe: the baselines write in parallel).</summary>
    public void AddWrite(long inserted, long updated, long deleted, long unchanged)
    {
        lock (PhaseSeconds)
        {
            Inserted += inserted;
            Updated += updated;
            Deleted += deleted;
            Unchanged += unchanged;
        }
    }
}
