using Bmm.Configuration;
using Bmm.Database;
using Bmm.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.Refresh;

/// <summary>What a strategy gets to work with.</summary>
public sealed class RefreshContext(NpgsqlDataSource dataSource, JobOptions options, TimeProvider time, ILogger logger, JobMetrics metrics)
{
    public NpgsqlDataSource DataSource { get; } = dataSource;
    public JobOptions Options { get; } = options;
    /// <summary>The clock the timestamp watermarks of the baselines read (simulated in benchmarks).</summary>
    public TimeProvider Time { get; } = time;
    public ILogger Logger { get; } = logger;
    public JobMetrics Metrics { get; } = metrics;
    public Transactions Transactions { get; } = new(dataSource, options, logger, metrics);
    /// <summary>The ClickHouse mirror, for the clickhouse strategy; null where none was configured or started.</summary>
    public ClickHouse.ClickHouseMirror? ClickHouse { get; init; }
}
