using System.Diagnostics.CodeAnalysis;
using Bmm.Configuration;
using Bmm.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Bmm.Hosting;

/// <summary>
/// What a long-running command is given from outside the host: its database (opened once the
/// options are known to be valid), its instruments, its clock, where it logs, and the ClickHouse
/// mirror once resolved (for the clickhouse strategy; null otherwise).
/// </summary>
public sealed record JobHostParts(Func<NpgsqlDataSource> DataSource, JobMetrics Metrics, TimeProvider Time, Action<ILoggingBuilder> Logging,
    Func<ClickHouse.ClickHouseMirror?>? ClickHouse = null);

/// <summary>
/// The Generic Host of <c>serve</c> and <c>follow</c>: options bound once from the command's
/// configuration (files, then environment, then flags) and validated before anything starts;
/// the job's services; and, at a metrics URL, Kestrel serving /metrics (OpenTelemetry's
/// Prometheus exporter) and /health (the health checks).
/// </summary>
internal static class JobHost
{
    /// <summary>The name of the one health check; /health answers with its description.</summary>
    private const string HealthCheckName = "data";

    /// <summary>
    /// Builds the host; nothing runs yet. Options that break a rule are a usage error here, before
    /// the database is opened or a port bound.
    /// </summary>
    public static IHost Build<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TService,
        [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] THealth>(
        IConfiguration configuration, JobHostParts parts, MetricsAddress? endpoint, Action<IServiceCollection> addServices)
        where TService : class, IHostedService
        where THealth : class, IHealthCheck
    {
        IHostApplicationBuilder builder = endpoint is null
            ? Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings())
            : WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Configuration.AddConfiguration(configuration);
        builder.Logging.ClearProviders();
        parts.Logging(builder.Logging);

        var services = builder.Services;
        // The command line owns SIGINT and SIGTERM: they cancel the token the host runs with.
        services.AddSingleton<IHostLifetime, CommandLineLifetime>();
        services.AddSingleton(_ => parts.DataSource());
        services.AddSingleton(parts.Metrics);
        services.AddSingleton(parts.Time);
        services.AddSingleton(parts);
        AddChecked(services, services.AddOptions<JobOptions>().Bind(configuration.GetSection("Job"), RefuseUnknownSettings));
        addServices(services);
        services.AddHostedService<TService>();

        IHost host;
        if (endpoint is null)
            host = ((HostApplicationBuilder)builder).Build();
        else
        {
            var web = (WebApplicationBuilder)builder;
            web.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => Listen(kestrel, endpoint));
            services.AddRoutingCore();
            services.AddSingleton<HealthTransitions>();
            services.AddSingleton<THealth>();
            services.AddHealthChecks().Add(new HealthCheckRegistration(HealthCheckName, sp => sp.GetRequiredService<THealth>(), failureStatus: null, tags: null));
            services.AddOpenTelemetry().ConfigureResource(resource => resource.AddService("bmm")).WithMetrics(metrics => metrics
                .AddMeter(parts.Metrics.MeterName, "Npgsql", "System.Runtime")
                .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));
            var app = web.Build();
            // Resolved at the first scrape, once the database is open.
            parts.Metrics.ObserveState(() => app.Services.GetRequiredService<JobStateCache>().Current);
            // The gauges read the cached job state; a scrape refreshes it first (at most once per cache age).
            app.UseWhen(context => context.Request.Path == endpoint.MetricsPath, branch => branch.Use(async (context, next) =>
            {
                await context.RequestServices.GetRequiredService<JobStateCache>().GetAsync(context.RequestAborted);
                await next(context);
            }));
            app.MapPrometheusScrapingEndpoint(endpoint.MetricsPath);
            app.MapHealthChecks(endpoint.HealthPath, new HealthCheckOptions { ResponseWriter = WriteReasonAsync });
            host = app;
        }
        try
        {
            host.Services.GetRequiredService<IStartupValidator>().Validate();
        }
        catch (OptionsValidationException e)
        {
            host.Dispose();
            throw new UsageException(string.Join(" ", e.Failures), e);
        }
        catch (InvalidOperationException e)
        {
            // The binder refuses a setting the options do not have, or a value of the wrong type.
            host.Dispose();
            throw new UsageException($"The configuration is invalid: {e.Message}", e);
        }
        return host;
    }

    /// <summary>A setting the options do not have is refused, not ignored: a typo would otherwise go unnoticed.</summary>
    public static void RefuseUnknownSettings(BinderOptions binder) => binder.ErrorOnUnknownConfiguration = true;

    /// <summary>
    /// Options bound once (each caller binds its section where the type is known, so that the
    /// binder is generated code), their rules checked when the host starts (and by <see cref="Build"/>).
    /// </summary>
    public static void AddChecked<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] T>(IServiceCollection services, OptionsBuilder<T> bound)
        where T : class, ICheckedOptions
    {
        bound.ValidateOnStart();
        services.AddSingleton<IValidateOptions<T>, CheckedOptionsValidator<T>>();
    }

    /// <summary>Runs until <paramref name="stop"/> is cancelled; a port that cannot be bound is a usage error.</summary>
    public static async Task RunAsync(IHost host, string? listening, CancellationToken stop)
    {
        try
        {
            await host.StartAsync(stop);
        }
        catch (IOException e) when (listening is not null)
        {
            throw new UsageException($"Cannot listen on {listening}: {e.Message.TrimEnd('.')}.", e);
        }
        await host.WaitForShutdownAsync(stop);
    }

    private static void Listen(Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions kestrel, MetricsAddress endpoint)
    {
        if (endpoint.AnyAddress) kestrel.ListenAnyIP(endpoint.Port);
        else if (endpoint.Address is { } address) kestrel.Listen(address, endpoint.Port);
        else kestrel.ListenLocalhost(endpoint.Port);
    }

    private static Task WriteReasonAsync(HttpContext context, HealthReport report)
    {
        var reason = report.Entries.TryGetValue(HealthCheckName, out var entry) ? entry.Description ?? entry.Status.ToString() : report.Status.ToString();
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(reason + "\n", context.RequestAborted);
    }

    /// <summary>Neither waits for nor handles signals: the command line does, and cancels the host's token.</summary>
    private sealed class CommandLineLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
