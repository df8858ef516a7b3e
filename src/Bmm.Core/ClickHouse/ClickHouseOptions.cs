using System.Text.RegularExpressions;

namespace Bmm.Configuration;

/// <summary>
/// Where the clickhouse strategy keeps its mirror. Section <c>ClickHouse</c>; environment
/// <c>BMM_ClickHouse__*</c>. Without a Url, bmm starts its own server (loopback, free ports, its
/// own folder and password), as it does PostgreSQL.
/// </summary>
public sealed partial class ClickHouseOptions : ICheckedOptions
{
    /// <summary>
    /// The HTTP interface of a server, e.g. http://ch1:8123; null or empty for bmm's own server.
    /// Several, comma-separated, for a cluster without distributed DDL: bmm queries the first and
    /// creates its tables on each.
    /// </summary>
    public string? Url { get; set; }

    /// <summary>The servers of <see cref="Url"/>, in order.</summary>
    public IReadOnlyList<string> Nodes => (Url ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The user, sent in the X-ClickHouse-User header (never in the URL, which servers log).</summary>
    public string User { get; set; } = "default";

    /// <summary>The user's password, sent in the X-ClickHouse-Key header.</summary>
    public string Password { get; set; } = "";

    /// <summary>The database bmm creates its mirror tables in.</summary>
    public string Database { get; set; } = "bmm";

    /// <summary>
    /// A cluster of the server's remote_servers: the mirror is then sharded by model id over its
    /// shards (local tables on every node, created ON CLUSTER, behind Distributed tables). Null or
    /// empty: one server.
    /// </summary>
    public string? Cluster { get; set; }

    /// <summary>Longest one request to ClickHouse may take.</summary>
    public int TimeoutSeconds { get; set; } = 600;

    /// <summary>
    /// Change-log rows mirrored per PostgreSQL transaction; the models they name are written
    /// afterwards, in model order, Job:BatchSize per transaction, each once however many batches
    /// named it. A day of the site's churn is about 3 million rows.
    /// </summary>
    public int BatchRows { get; set; } = 1_000_000;

    /// <inheritdoc />
    public string? Problem()
    {
        foreach (var node in Nodes)
        {
            if (!Uri.TryCreate(node, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Query.Length > 0 || uri.UserInfo.Length > 0)
                return $"ClickHouse:Url '{node}' is not the http(s) address of a server's HTTP interface, e.g. http://localhost:8123 (credentials go in ClickHouse:User and ClickHouse:Password).";
        }
        if (!Identifier().IsMatch(Database)) return $"ClickHouse:Database '{Database}' must be a plain identifier (letters, digits, underscores).";
        if (!string.IsNullOrEmpty(Cluster) && !Identifier().IsMatch(Cluster)) return $"ClickHouse:Cluster '{Cluster}' must be a plain identifier (letters, digits, underscores).";
        if (string.IsNullOrEmpty(User) || User.Any(char.IsControl)) return "ClickHouse:User must be a user name.";
        if (Password.Any(c => c is '\r' or '\n')) return "ClickHouse:Password cannot contain a line break.";
        if (TimeoutSeconds < 1) return "ClickHouse:TimeoutSeconds must be at least 1.";
        if (BatchRows < 1) return "ClickHouse:BatchRows must be at least 1.";
        return null;
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex Identifier();
}
