using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Bmm.Configuration;
using Bmm.Telemetry;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Bmm.Serve;

/// <summary>
/// One <see cref="HttpListener"/> at the metrics URL: <c>metrics</c> answers in the Prometheus
/// text format, <c>health</c> with 200 "healthy" or 503 and a one-line reason. Each request is
/// handled on its own, so a slow database read never holds up the next scrape.
/// </summary>
public sealed partial class MetricsEndpoint : IAsyncDisposable
{
    private const string PrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);
    private readonly HttpListener _listener;
    private readonly CollectorRegistry _registry;
    private readonly JobStateCache _state;
    private readonly IHealthCheck _health;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private readonly string _metricsPath;
    private readonly string _healthPath;
    private int _lastHealthy = -1;

    private MetricsEndpoint(HttpListener listener, string prefix, CollectorRegistry registry, JobStateCache state, IHealthCheck health, ILogger logger)
    {
        _listener = listener;
        _registry = registry;
        _state = state;
        _health = health;
        _logger = logger;
        var basePath = new Uri(ForUriCheck(prefix)).AbsolutePath;
        _metricsPath = basePath + "metrics";
        _healthPath = basePath + "health";
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>
    /// Checks a metrics URL and returns it as a listener prefix (ending in '/'). The host may be
    /// <c>+</c> or <c>*</c> to listen on every address.
    /// </summary>
    public static string NormalizePrefix(string? url)
    {
        var text = (url ?? "").Trim();
        if (!text.EndsWith('/')) text += "/";
        if (!Uri.TryCreate(ForUriCheck(text), UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp
            || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment) || !string.IsNullOrEmpty(uri.UserInfo))
            throw new UsageException($"The metrics URL '{url}' is not an http:// URL such as http://127.0.0.1:9464/ (host + or * listens on every address).");
        return text;
    }

    /// <summary>Starts listening; a prefix that cannot be bound (port taken, no permission) is a usage error.</summary>
    public static MetricsEndpoint Start(string prefix, CollectorRegistry registry, JobStateCache state, IHealthCheck health, ILogger logger)
    {
        var listener = new HttpListener { IgnoreWriteExceptions = true };
        listener.Prefixes.Add(prefix);
        try
        {
            listener.Start();
        }
        catch (HttpListenerException e)
        {
            listener.Close();
            throw new UsageException($"Cannot listen on {prefix}: {e.Message.TrimEnd('.')}.", e);
        }
        return new MetricsEndpoint(listener, prefix, registry, state, health, logger);
    }

    // Uri does not accept the listener's wildcard hosts.
    private static string ForUriCheck(string prefix) =>
        prefix.Replace("://+", "://wildcard", StringComparison.Ordinal).Replace("://*", "://wildcard", StringComparison.Ordinal);

    private async Task AcceptLoopAsync()
    {
        var failures = 0;
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().WaitAsync(_stop.Token);
                failures = 0;
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpListenerException or InvalidOperationException or ObjectDisposedException)
            {
                // Accepting failed; the listener may recover. Back off a little so a broken listener cannot spin.
                failures++;
                Log.EndpointAcceptFailed(_logger, e);
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5_000, 100 * (1 << Math.Min(failures, 6)))), _stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                continue;
            }
            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        var response = context.Response;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            timeout.CancelAfter(RequestTimeout);
            var path = context.Request.Url?.AbsolutePath ?? "";
            if (context.Request.HttpMethod != "GET")
                await WriteTextAsync(response, 405, "only GET is served.", timeout.Token);
            else if (path == _metricsPath)
            {
                // The gauges read the cached state; refresh it first (at most once per cache age).
                await _state.GetAsync(timeout.Token);
                response.StatusCode = 200;
                response.ContentType = PrometheusContentType;
                var body = await ExportAsync(_registry, timeout.Token);
                response.ContentLength64 = body.Length;
                await response.OutputStream.WriteAsync(body, timeout.Token);
            }
            else if (path == _healthPath)
            {
                var report = await _health.CheckAsync(timeout.Token);
                if (Interlocked.Exchange(ref _lastHealthy, report.Healthy ? 1 : 0) != (report.Healthy ? 1 : 0))
                {
                    if (report.Healthy) Log.Healthy(_logger);
                    else Log.Unhealthy(_logger, report.Reason);
                }
                await WriteTextAsync(response, report.Healthy ? 200 : 503, report.Reason, timeout.Token);
            }
            else
                await WriteTextAsync(response, 404, $"not found: try {_metricsPath} or {_healthPath}.", timeout.Token);
        }
#pragma warning disable CA1031 // One failed request must not take the endpoint down.
        catch (Exception e)
#pragma warning restore CA1031
        {
            if (!_stop.IsCancellationRequested) Log.EndpointRequestFailed(_logger, e, context.Request.Url?.AbsolutePath ?? "");
            try
            {
                response.StatusCode = 500;
            }
            catch (InvalidOperationException)
            {
                // Headers already sent.
            }
        }
        finally
        {
            try
            {
                response.Close();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                // The client went away.
            }
        }
    }

    /// <summary>
    /// The registry in the Prometheus text format, with two corrections to how prometheus-net
    /// exports the job's own instruments: it names a metric "{meter}_{instrument}", which would
    /// double their prefix (bmm_bmm_runs_total), so they keep their instrument names; and it
    /// types every .NET Counter as a gauge (in general a .NET counter may be re-created), while
    /// the job's counters live as long as the process, so their *_total series are typed counter.
    /// </summary>
    internal static async Task<byte[]> ExportAsync(CollectorRegistry registry, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        await registry.CollectAndExportAsTextAsync(buffer, cancellationToken);
        var text = Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        text = DoubledJobPrefix().Replace(text, "$1bmm_");
        text = JobCounterTypedGauge().Replace(text, "# TYPE $1 counter");
        return Encoding.UTF8.GetBytes(text);
    }

    [GeneratedRegex("^(# (?:HELP|TYPE) )?bmm_bmm_", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex DoubledJobPrefix();

    [GeneratedRegex(@"^# TYPE (bmm_[a-z0-9_]+_total) gauge$", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex JobCounterTypedGauge();

    private static async Task WriteTextAsync(HttpListenerResponse response, int status, string text, CancellationToken cancellationToken)
    {
        var body = Encoding.UTF8.GetBytes(text + "\n");
        response.StatusCode = status;
        response.ContentType = "text/plain; charset=utf-8";
        response.ContentLength64 = body.Length;
        await response.OutputStream.WriteAsync(body, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Close();
        await _acceptLoop;
        _stop.Dispose();
    }
}
