using System.Diagnostics;
using Bmm.Seeding;
using Bmm.Strategies.ReviewsMv;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.Bench;

/// <summary>
/// Freshness with <c>bmm follow</c> running: on a copy of the base, the follower applies the
/// change log while the simulator writes the site's load in real time and a probe writer
/// commits one more download of a fixed version every 200 ms; a monitor reads that version's
/// row every 5 ms and records, for each probe, when the row first shows the probe's sum.
/// </summary>
internal sealed class FollowScenario(BenchDatabases databases, string template, BenchOptions options, ILogger logger, Action<string> progress)
{
    /// <summary>
    /// A rate of the load (a multiple of the site's), and whether a transaction with an id stays
    /// open through the window, as a long site transaction holds the horizon back.
    /// </summary>
    private sealed record Phase(double Rate, bool HeldOpen)
    {
        public override string ToString() => $"{Rate:0.##}x the site's rate{(HeldOpen ? FollowRate.HeldTransactionLabel : "")}";
    }

    private static readonly Phase[] Phases = [new(1, false), new(10, false), new(1, true)];
    private static readonly TimeSpan ProbeInterval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(5);
    /// <summary>The load is simulated a minute at a time and paced by the real clock.</summary>
    private static readonly TimeSpan LoadCycle = TimeSpan.FromMinutes(1);
    /// <summary>Longest wait for the follower's first applied probe before the scenario fails.</summary>
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    /// <summary>How long probes committed near a window's end may still take to show before they count as unseen.</summary>
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(20);

    /// <summary>What one rate takes beyond its window at most: the grace, and starting and stopping.</summary>
    private static readonly TimeSpan Overhead = Grace + TimeSpan.FromSeconds(10);

    /// <summary>The time the scenario needs, reserved from the budget before the trials share it.</summary>
    public static TimeSpan Duration(BenchOptions options) => Phases.Length * (options.FollowWindow + Overhead);

    private sealed record Probe(int VersionId, int ModelId, string BaseModel);

    public async Task<FollowReport> RunAsync(Func<TimeSpan> budgetLeft, CancellationToken cancellationToken)
    {
        if (budgetLeft() < options.FollowWindow + Overhead)
            return new FollowReport { Note = $"skipped: {Minutes(budgetLeft())} of --budget left, a rate needs {Minutes(options.FollowWindow + Overhead)}" };
        var name = $"bmm_bench_follow_{Environment.ProcessId}";
        await databases.DropAsync(name, cancellationToken);
        await databases.CloneAsync(template, name, cancellationToken);
        Probe? probe = null;
        double? refreshSeconds = null;
        var rates = new List<FollowRate>();
        string? note = null;
        try
        {
            await databases.PrewarmAsync(name, cancellationToken);
            await using var dataSource = databases.Open(name);
            probe = await FindProbeAsync(dataSource, cancellationToken);
            progress("Follow: timing REFRESH MATERIALIZED VIEW CONCURRENTLY of reviews-mv's view");
            refreshSeconds = await TimeRefreshAsync(dataSource, cancellationToken);

            progress($"Follow: starting bmm follow; probing version {probe.VersionId} of model {probe.ModelId} ({probe.BaseModel})");
            await using var follower = FollowerProcess.Start(options.Product, databases.ConnectionString(name));
            await WaitFollowingAsync(dataSource, probe, follower, cancellationToken);
            var simulatedMinute = 0;
            foreach (var phase in Phases)
            {
                if (budgetLeft() < options.FollowWindow + Overhead)
                {
                    note = $"{phase} and the phases after it skipped: {Minutes(budgetLeft())} of --budget left";
                    break;
                }
                progress($"Follow: {phase} for {options.FollowWindow.TotalSeconds:0} s");
                var (result, minutes) = await MeasureRateAsync(dataSource, probe, phase, simulatedMinute, follower, cancellationToken);
                rates.Add(result);
                simulatedMinute += minutes;
            }
        }
#pragma warning disable CA1031 // Any failure of the scenario is reported, as a failed trial is.
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
#pragma warning restore CA1031
        {
            // Reported like a failed trial, so that the other scenarios' figures are still written.
            return Report(probe, refreshSeconds, rates, note) with { Error = e.Message };
        }
        finally
        {
            await databases.DropAsync(name, CancellationToken.None);
        }
        return Report(probe, refreshSeconds, rates, note);
    }

    private static FollowReport Report(Probe? probe, double? refreshSeconds, List<FollowRate> rates, string? note) => new()
    {
        Note = note,
        ProbeVersionId = probe?.VersionId ?? 0,
        ProbeModelId = probe?.ModelId ?? 0,
        ProbeBaseModel = probe?.BaseModel ?? "",
        ReviewStatsRefreshSeconds = refreshSeconds,
        Rates = rates,
    };

    private static async Task<Probe> FindProbeAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(BenchSql.FollowProbe);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken)) throw new InvalidOperationException("The base has no Published version to probe.");
        return new Probe(reader.GetInt32(0), reader.GetInt32(1), reader.GetString(2));
    }

    private static async Task<double> TimeRefreshAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ReviewsMvSql.RefreshView);
        command.CommandTimeout = 0;
        var started = Stopwatch.GetTimestamp();
        await command.ExecuteNonQueryAsync(cancellationToken);
        return Stopwatch.GetElapsedTime(started).TotalSeconds;
    }

    /// <summary>Following means applying: one probe committed and seen in the table.</summary>
    private static async Task WaitFollowingAsync(NpgsqlDataSource dataSource, Probe probe, FollowerProcess follower, CancellationToken cancellationToken)
    {
        await using var writer = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var reader = await dataSource.OpenConnectionAsync(cancellationToken);
        var (expected, _) = await CommitProbeAsync(writer, probe, cancellationToken);
        var waited = Stopwatch.StartNew();
        while (await ReadVisibleAsync(reader, probe, cancellationToken) is not { } value || value < expected)
        {
            if (follower.HasExited) throw new InvalidOperationException($"bmm follow exited: {follower.LastOutput}");
            if (waited.Elapsed > StartTimeout) throw new TimeoutException($"bmm follow applied nothing in {StartTimeout.TotalSeconds:0} s: {follower.LastOutput}");
            await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken);
        }
    }

    private async Task<(FollowRate Result, int SimulatedMinutes)> MeasureRateAsync(NpgsqlDataSource dataSource, Probe probe, Phase phase,
        int firstMinute, FollowerProcess follower, CancellationToken cancellationToken)
    {
        var rate = phase.Rate;
        // Taken before the load and the probes, so that every one of them commits behind it.
        await using var held = phase.HeldOpen ? await HoldTransactionAsync(dataSource, cancellationToken) : null;
        var probes = new ProbeLog();
        using var stopProbes = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var stopMonitor = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var monitor = MonitorAsync(dataSource, probe, probes, stopMonitor.Token);
        var writer = ProbeAsync(dataSource, probe, probes, stopProbes.Token);
        var started = Stopwatch.StartNew();
        List<SimulationSummary> load;
        double seconds;
        try
        {
            load = await LoadAsync(dataSource, rate, firstMinute, started, cancellationToken);
            seconds = started.Elapsed.TotalSeconds;
            await stopProbes.CancelAsync();
            await Swallow(writer);
            if (held is not null) await held.CommitAsync(cancellationToken);
            var drained = Stopwatch.StartNew();
            while (probes.Pending > 0 && drained.Elapsed < Grace && !follower.HasExited)
                await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken);
        }
        finally
        {
            await stopProbes.CancelAsync();
            await stopMonitor.CancelAsync();
            await Swallow(writer);
            await Swallow(monitor);
        }
        if (follower.HasExited) throw new InvalidOperationException($"bmm follow exited during the window at {phase}: {follower.LastOutput}");

        var latencies = probes.Latencies();
        var minutes = seconds / 60;
        return (new FollowRate
        {
            Rate = rate,
            HeldTransaction = phase.HeldOpen,
            Seconds = seconds,
            Probes = latencies.Length + probes.Pending,
            Unseen = probes.Pending,
            Voided = probes.Voided,
            P50Ms = Percentile(latencies, 0.50),
            P99Ms = Percentile(latencies, 0.99),
            MaxMs = latencies.Length == 0 ? null : latencies[^1],
            MetricRowsPerMinute = load.Sum(s => s.MetricRows) / minutes,
            ReviewChangesPerMinute = load.Sum(s => s.ReviewsCreated + s.ReviewsEdited + s.ReviewsDeleted) / minutes,
            TransactionsPerMinute = load.Sum(s => s.Transactions) / minutes,
            SimulatorSeconds = load.Sum(s => s.WallSeconds),
        }, load.Count);
    }

    /// <summary>An open transaction with an id, on a connection of its own that disposing it returns.</summary>
    private static async Task<HeldTransaction> HoldTransactionAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var command = new NpgsqlCommand(BenchSql.TakeTransactionId, connection, transaction))
            await command.ExecuteNonQueryAsync(cancellationToken);
        return new HeldTransaction(connection, transaction);
    }

    private sealed class HeldTransaction(NpgsqlConnection connection, NpgsqlTransaction transaction) : IAsyncDisposable
    {
        public Task CommitAsync(CancellationToken cancellationToken) => transaction.CommitAsync(cancellationToken);

        public async ValueTask DisposeAsync()
        {
            await transaction.DisposeAsync();
            await connection.DisposeAsync();
        }
    }

    /// <summary>
    /// The site's load in real time: each real minute since the start, one simulated minute of
    /// changes at the rate (written as fast as the simulator goes), then a wait for the next
    /// minute. A window, or its end, shorter than a minute gets that fraction of a minute's
    /// changes, so that the rate per real second stays the same.
    /// </summary>
    private async Task<List<SimulationSummary>> LoadAsync(NpgsqlDataSource dataSource, double rate, int firstMinute, Stopwatch started, CancellationToken cancellationToken)
    {
        var summaries = new List<SimulationSummary>();
        var window = options.FollowWindow;
        for (var cycle = 0; cycle * LoadCycle < window && started.Elapsed < window; cycle++)
        {
            var cycleStart = cycle * LoadCycle;
            var length = window - cycleStart < LoadCycle ? window - cycleStart : LoadCycle;
            var minute = firstMinute + cycle;
            summaries.Add(await new ChangeSimulator(dataSource, logger).RunAsync(new SimulationOptions
            {
                Minutes = 1,
                Rate = rate * (length / LoadCycle),
                Seed = options.Seed + 1_000 + minute,
                Start = BenchRunner.SeedTime.AddMinutes(minute).UtcDateTime,
            }, cancellationToken));
            var wait = cycleStart + length - started.Elapsed;
            if (wait > TimeSpan.Zero) await Task.Delay(wait, cancellationToken);
        }
        return summaries;
    }

    /// <summary>One probe every 200 ms, each its own transaction on its own connection.</summary>
    private static async Task ProbeAsync(NpgsqlDataSource dataSource, Probe probe, ProbeLog probes, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        using var timer = new PeriodicTimer(ProbeInterval);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            var (expected, counts) = await CommitProbeAsync(connection, probe, cancellationToken);
            probes.Committed(Stopwatch.GetTimestamp(), expected, counts);
        }
    }

    /// <summary>
    /// The probe's write and the pair's sum it makes current, in one implicit transaction; when it
    /// returns, the probe is committed.
    /// </summary>
    private static async Task<(int Expected, bool Counts)> CommitProbeAsync(NpgsqlConnection connection, Probe probe, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand(BenchSql.ProbeWrite) { Parameters = { new("version", probe.VersionId) } },
                new NpgsqlBatchCommand(BenchSql.ProbeExpected)
                {
                    Parameters = { new("version", probe.VersionId), new("model", probe.ModelId), new("base_model", probe.BaseModel) },
                },
            },
        };
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt32(0), reader.GetBoolean(1));
    }

    /// <summary>Reads the probe's row every 5 ms on its own connection until stopped.</summary>
    private static async Task MonitorAsync(NpgsqlDataSource dataSource, Probe probe, ProbeLog probes, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        using var timer = new PeriodicTimer(PollInterval);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            var sent = Stopwatch.GetTimestamp();
            var value = await ReadVisibleAsync(connection, probe, cancellationToken);
            if (value is { } shown) probes.Observed(sent, Stopwatch.GetTimestamp(), shown);
        }
    }

    private static async Task<int?> ReadVisibleAsync(NpgsqlConnection connection, Probe probe, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(BenchSql.ProbeVisible, connection);
        command.Parameters.AddWithValue("model", probe.ModelId);
        command.Parameters.AddWithValue("base_model", probe.BaseModel);
        return await command.ExecuteScalarAsync(cancellationToken) as int?;
    }

    private static async Task Swallow(Task loop)
    {
        try
        {
            await loop;
        }
        catch (OperationCanceledException)
        {
            // Stopped, as asked.
        }
    }

    private static double? Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? null : sorted[Math.Clamp((int)Math.Ceiling(sorted.Length * p) - 1, 0, sorted.Length - 1)];

    private static string Minutes(TimeSpan span) => $"{span.TotalMinutes:0.0} min";

    /// <summary>
    /// The probes in flight, shared by the writer and the monitor. A probe is seen by the first
    /// read sent after its commit that shows at least its sum; sums only grow from probe to
    /// counted probe, so the seen ones are always the oldest.
    /// </summary>
    private sealed class ProbeLog
    {
        private readonly Lock _lock = new();
        private readonly Queue<(long Committed, int Expected)> _pending = new();
        private readonly List<double> _latencies = [];
        private int _lastExpected = int.MinValue;
        private int _voided;

        public int Pending { get { lock (_lock) return _pending.Count; } }
        public int Voided { get { lock (_lock) return _voided; } }

        /// <summary>
        /// A probe counts while its version still counts in the pair and the pair's sum rose.
        /// When the load moved or unpublished a version of the pair, the row may show a lower sum
        /// from then on: that probe would look visible at once, and the ones still pending might
        /// never be, so they are all voided.
        /// </summary>
        public void Committed(long at, int expected, bool counts)
        {
            lock (_lock)
            {
                if (counts && expected > _lastExpected) _pending.Enqueue((at, expected));
                else
                {
                    _voided += 1 + _pending.Count;
                    _pending.Clear();
                }
                _lastExpected = expected;
            }
        }

        public void Observed(long sent, long received, int value)
        {
            lock (_lock)
            {
                while (_pending.TryPeek(out var head) && head.Committed < sent && head.Expected <= value)
                {
                    _pending.Dequeue();
                    _latencies.Add(Stopwatch.GetElapsedTime(head.Committed, received).TotalMilliseconds);
                }
            }
        }

        public double[] Latencies()
        {
            lock (_lock) return [.. _latencies.Order()];
        }
    }
}
