using Bmm.Telemetry;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace Bmm.Hosting;

/// <summary>What /health answers: healthy, or not with a one-line reason.</summary>
public sealed record HealthVerdict(bool Healthy, string Reason);

/// <summary>Logs when /health turns unhealthy (with the reason) and when it recovers, once per change.</summary>
public sealed class HealthTransitions(ILoggerFactory loggers)
{
    private readonly ILogger _logger = loggers.CreateLogger(LogCategories.Health);
    private int _lastHealthy = -1;

    /// <summary>The verdict as a health check result, logged if it differs from the last one.</summary>
    public HealthCheckResult Report(HealthVerdict verdict)
    {
        var healthy = verdict.Healthy ? 1 : 0;
        if (Interlocked.Exchange(ref _lastHealthy, healthy) != healthy)
        {
            if (verdict.Healthy) HostLog.Healthy(_logger);
            else HostLog.Unhealthy(_logger, verdict.Reason);
        }
        return verdict.Healthy ? HealthCheckResult.Healthy(verdict.Reason) : HealthCheckResult.Unhealthy(verdict.Reason);
    }
}
