using System.Net;

namespace Bmm.Configuration;

/// <summary>
/// Where /metrics and /health are served: an http:// URL whose host is an IP address,
/// <c>localhost</c>, or <c>+</c> / <c>*</c> for every address, and whose path (if any) is put
/// before both, as in <c>http://127.0.0.1:9464/bmm/</c>.
/// </summary>
public sealed record MetricsAddress(string Host, int Port, string BasePath)
{
    /// <summary>The URL as given, ending in '/'.</summary>
    public string Prefix => $"http://{Host}:{Port}{BasePath}";

    public string MetricsPath => BasePath + "metrics";

    public string HealthPath => BasePath + "health";

    /// <summary>Every address of the machine.</summary>
    public bool AnyAddress => Host is "+" or "*";

    /// <summary>The address to bind; null for <see cref="AnyAddress"/> and for localhost (both loopbacks).</summary>
    public IPAddress? Address => IPAddress.TryParse(Host.Trim('[', ']'), out var address) ? address : null;

    /// <summary>Why <paramref name="url"/> is not a metrics address, naming the setting; null when it is one.</summary>
    public static string? Problem(string? url, string setting) => TryParse(url) is null
        ? $"{setting} '{url}' is not an http:// URL with an IP address, localhost or + (every address), such as http://127.0.0.1:9464/."
        : null;

    /// <summary>The address <paramref name="url"/> names; null when it is not a metrics address.</summary>
    public static MetricsAddress? TryParse(string? url)
    {
        var text = (url ?? "").Trim();
        if (!text.EndsWith('/')) text += "/";
        // Uri does not take the wildcard hosts.
        var wildcard = text.StartsWith("http://+:", StringComparison.Ordinal) || text.StartsWith("http://*:", StringComparison.Ordinal);
        var checkable = wildcard ? "http://wildcard" + text["http://+".Length..] : text;
        if (!Uri.TryCreate(checkable, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp
            || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment) || !string.IsNullOrEmpty(uri.UserInfo))
            return null;
        var host = wildcard ? text["http://".Length].ToString() : uri.Host;
        if (!wildcard && host != "localhost" && !IPAddress.TryParse(host.Trim('[', ']'), out _)) return null;
        return new MetricsAddress(host, uri.Port, uri.AbsolutePath);
    }
}
