using System.Diagnostics.Metrics;

namespace Bmm.Telemetry;

/// <summary>
/// The job's instruments, named as Prometheus shows them, so an exporter needs no renaming.
/// Histograms carry their bucket boundaries as advice: a run, a phase and a batch take from
/// milliseconds to minutes.
/// </summary>
public sealed class JobMetrics : IDisposable
{
    /// <summary>The meter of a process's job; tests give each job in one process a meter of its own.</summary>
    public const string DefaultMeterName = "Bmm";

    private static readonly InstrumentAdvice<double> DurationBuckets = new()
    {
        HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
    };

    private readonly Meter _meter;

    public JobMetrics(string meterName = DefaultMeterName)
    {
        _meter = new Meter(meterName);
        RunDuration = _meter.CreateHistogram("bmm_run_duration_seconds", "s", "Duration of a refresh run.", advice: DurationBuckets);
        PhaseDuration = _meter.CreateHistogram("bmm_phase_duration_seconds", "s", "Duration of one phase of a refresh run.", advice: DurationBuckets);
        BatchDuration = _meter.CreateHistogram("bmm_batch_query_duration_seconds", "s", "Duration of one batch query.", advice: DurationBuckets);
        AffectedModels = _meter.CreateCounter<long>("bmm_affected_models_total", description: "Models recomputed.");
        RowsWritten = _meter.CreateCounter<long>("bmm_rows_written_total", description: "Rows inserted or updated in ModelBaseModelMetric.");
        RowsDeleted = _meter.CreateCounter<long>("bmm_rows_deleted_total", description: "Rows deleted from ModelBaseModelMetric.");
        RowsUnchanged = _meter.CreateCounter<long>("bmm_rows_unchanged_total", description: "Rows recomputed and found unchanged (not written).");
        Runs = _meter.CreateCounter<long>("bmm_runs_total", description: "Refresh runs by outcome.");
        RunsSkipped = _meter.CreateCounter<long>("bmm_runs_skipped_total", description: "Runs skipped because another run held the lock or the job was paused.");
        Clamps = _meter.CreateCounter<long>("bmm_clamps_total", description: "Sums clamped to the int4 maximum.");
        Drift = _meter.CreateCounter<long>("bmm_drift_rows_total", description: "Drift found, by kind (verify: missing, extra, wrong rows; reconciliation: drifted models by table, pair, multiplicity, version, review) and source.");
        Retries = _meter.CreateCounter<long>("bmm_retries_total", description: "Transactions retried after a rollback.");
    }

    /// <summary>The name of this job's meter, for the exporter to listen to.</summary>
    public string MeterName => _meter.Name;

    public Histogram<double> RunDuration { get; }
    public Histogram<double> PhaseDuration { get; }
    public Histogram<double> BatchDuration { get; }
    public Counter<long> AffectedModels { get; }
    public Counter<long> RowsWritten { get; }
    public Counter<long> RowsDeleted { get; }
    public Counter<long> RowsUnchanged { get; }
    public Counter<long> Runs { get; }
    public Counter<long> RunsSkipped { get; }
    public Counter<long> Clamps { get; }
    public Counter<long> Drift { get; }
    public Counter<long> Retries { get; }

    /// <summary>What one unit of work (a run, a backfill, a follower's pass) did to the table.</summary>
    public void RecordWork(KeyValuePair<string, object?> strategy, long affectedModels, long inserted, long updated, long deleted, long unchanged)
    {
        AffectedModels.Add(affectedModels, strategy);
        RowsWritten.Add(inserted + updated, strategy);
        RowsDeleted.Add(deleted, strategy);
        RowsUnchanged.Add(unchanged, strategy);
    }

    /// <summary>Observable gauges read the job's state from the database when scraped.</summary>
    public void ObserveState(Func<JobStateSnapshot?> read)
    {
        _meter.CreateObservableGauge("bmm_queue_depth", () => read()?.QueueDepth ?? 0, description: "Model ids waiting in the explicit queue.");
        _meter.CreateObservableGauge("bmm_change_log_rows", () => read()?.PendingChanges ?? 0, description: "Change-log rows not yet applied by the setbased consumer.");
        _meter.CreateObservableGauge("bmm_change_log_bytes", () => read()?.ChangeLogBytes ?? 0, "By", "Size on disk of the change log, all partitions.");
        _meter.CreateObservableGauge("bmm_lag_seconds", () => read()?.LagSeconds ?? 0, "s", "Age of the oldest change not yet applied; zero when nothing is pending.");
        // No unit: an exporter would add it to the name (bmm_seconds_since_last_success_seconds), which the dashboard charts as is.
        _meter.CreateObservableGauge("bmm_seconds_since_last_success", () => read()?.SecondsSinceLastSuccess ?? 0, description: "Seconds since the last successful run finished.");
    }

    public void Dispose() => _meter.Dispose();
}

/// <summary>What the gauges report; read from the database at most once per scrape.</summary>
public sealed record JobStateSnapshot(long QueueDepth, long PendingChanges, long ChangeLogBytes, double LagSeconds, double SecondsSinceLastSuccess);
