using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Bmm.Configuration;

namespace Bmm.ClickHouse;

/// <summary>A ClickHouse error: the server's <c>Code: N</c> and its message, or why it could not be reached.</summary>
public sealed class ClickHouseException(string message, int? code = null, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The server's error code, when it answered.</summary>
    public int? Code { get; } = code;
}

/// <summary>A set of values sent with a query as an external table (multipart form data), one column.</summary>
public sealed record ExternalTable(string Name, string Column, string Type, IEnumerable<string> Values);

/// <summary>
/// The ClickHouse HTTP interface, the one client of this project: SQL in the body (or in the URL
/// when external tables take the body), rows as TSV both ways, credentials in headers, errors as
/// <see cref="ClickHouseException"/>. ClickHouse 18.16 has no query parameters, so values never
/// go into SQL text: ids travel as external tables and strings as TSV rows (<see cref="Tsv"/>).
/// </summary>
public sealed class ClickHouseClient : IDisposable
{
    private readonly HttpClient _http;

    /// <summary>A client of <paramref name="node"/>, by default the first server of the options' Url.</summary>
    public ClickHouseClient(ClickHouseOptions options, string? node = null)
    {
        Options = options;
        Endpoint = node ?? options.Nodes.FirstOrDefault() ?? throw new ArgumentException("ClickHouse:Url is resolved before a client is made.", nameof(options));
        _http = new HttpClient(new SocketsHttpHandler
        {
            AutomaticDecompression = DecompressionMethods.GZip,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        })
        {
            BaseAddress = new Uri(Endpoint.TrimEnd('/') + "/"),
            Timeout = TimeSpan.FromSeconds(options.TimeoutSeconds),
        };
        _http.DefaultRequestHeaders.Add("X-ClickHouse-User", options.User);
        _http.DefaultRequestHeaders.Add("X-ClickHouse-Key", options.Password);
    }

    public ClickHouseOptions Options { get; }

    /// <summary>Where the server is, for messages (no credentials: they travel in headers).</summary>
    public string Endpoint { get; }

    /// <summary>Runs one statement (ClickHouse takes one per request).</summary>
    public async Task ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(Url(), new StringContent(sql, Encoding.UTF8), sql, cancellationToken);
    }

    /// <summary>Runs a SELECT (FORMAT TSV is appended) and returns its rows, each value unescaped.</summary>
    public async Task<List<string[]>> QueryAsync(string sql, CancellationToken cancellationToken, params ExternalTable[] tables)
    {
        var text = sql + "\nFORMAT TSV";
        HttpContent content;
        string url;
        if (tables.Length == 0)
        {
            url = Url();
            content = new StringContent(text, Encoding.UTF8);
        }
        else
        {
            // The body carries the external tables, so the query goes in the URL.
            var form = new MultipartFormDataContent();
            var parameters = new List<(string, string)> { ("query", text) };
            foreach (var table in tables)
            {
                var body = new StringBuilder();
                foreach (var value in table.Values) Tsv.Append(body, value).Append('\n');
                form.Add(new StringContent(body.ToString(), Encoding.UTF8), table.Name, table.Name);
                parameters.Add(($"{table.Name}_structure", $"{table.Column} {table.Type}"));
                parameters.Add(($"{table.Name}_format", "TSV"));
            }
            url = Url([.. parameters]);
            content = form;
        }
        using var response = await SendAsync(url, content, sql, cancellationToken);
        var rows = new List<string[]>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken), Encoding.UTF8);
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
            rows.Add(Tsv.Split(line));
        return rows;
    }

    /// <summary>
    /// Inserts TSV rows written by <paramref name="writeRows"/> into <paramref name="table"/>
    /// (<paramref name="columns"/> in order), streamed: nothing is held in memory whole.
    /// </summary>
    public async Task InsertTsvAsync(string table, string columns, Func<Stream, Task> writeRows, CancellationToken cancellationToken)
    {
        var sql = $"INSERT INTO {table} ({columns}) FORMAT TSV";
        // A Distributed table sends to its shards before answering, so a batch is either on
        // every shard or reported as failed.
        using var response = await SendAsync(Url(("query", sql), ("insert_distributed_sync", "1")), new RowsContent(writeRows), sql, cancellationToken);
    }

    private static string Url(params (string Name, string Value)[] parameters) =>
        parameters.Length == 0 ? "" : "?" + string.Join("&", parameters.Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value)}"));

    private async Task<HttpResponseMessage> SendAsync(string url, HttpContent content, string sql, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.PostAsync(url, content, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new ClickHouseException($"ClickHouse at {Endpoint} could not be reached: {e.Message}", null, e);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ClickHouseException($"ClickHouse at {Endpoint} did not answer within {Options.TimeoutSeconds} s.", null, e);
        }
        finally
        {
            content.Dispose();
        }
        if (response.IsSuccessStatusCode) return response;
        using (response)
        {
            var body = (await response.Content.ReadAsStringAsync(cancellationToken)).Trim();
            throw new ClickHouseException(Describe(body, sql), ParseCode(body));
        }
    }

    /// <summary>The first line of the server's message and the statement's first words: its stack trace says nothing to a user.</summary>
    private static string Describe(string body, string sql)
    {
        // 18.16 says "Code: N, e.displayText() = DB::Exception: what, e.what() = DB::Exception"; later releases "Code: N. DB::Exception: what".
        var message = body.Split('\n')[0]
            .Replace(", e.displayText() = DB::Exception:", ":", StringComparison.Ordinal)
            .Replace(". DB::Exception:", ":", StringComparison.Ordinal);
        foreach (var tail in new[] { ", e.what() = ", ", Stack trace" })
        {
            var at = message.IndexOf(tail, StringComparison.Ordinal);
            if (at > 0) message = message[..at];
        }
        var statement = sql.Length > 60 ? sql[..60] + "..." : sql;
        return $"ClickHouse refused `{statement.ReplaceLineEndings(" ")}`: {message}";
    }

    private static int? ParseCode(string body)
    {
        if (!body.StartsWith("Code: ", StringComparison.Ordinal)) return null;
        var end = body.IndexOfAny([',', '.'], 6);
        return end > 6 && int.TryParse(body.AsSpan(6, end - 6), out var code) ? code : null;
    }

    public void Dispose() => _http.Dispose();

    /// <summary>A request body written as it is sent.</summary>
    private sealed class RowsContent(Func<Stream, Task> write) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => write(stream);

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }
}

/// <summary>ClickHouse's TabSeparated escaping (also PostgreSQL's COPY text format): backslash, tab, line breaks escaped.</summary>
public static class Tsv
{
    public static StringBuilder Append(StringBuilder builder, string value)
    {
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\': builder.Append(@"\\"); break;
                case '\t': builder.Append(@"\t"); break;
                case '\n': builder.Append(@"\n"); break;
                case '\r': builder.Append(@"\r"); break;
                case '\0': builder.Append(@"\0"); break;
                default: builder.Append(c); break;
            }
        }
        return builder;
    }

    /// <summary>One TSV line's values, unescaped.</summary>
    public static string[] Split(string line)
    {
        var values = new List<string>();
        var current = new StringBuilder();
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (c == '\t')
            {
                values.Add(current.ToString());
                current.Clear();
            }
            else if (c == '\\' && i + 1 < line.Length)
            {
                var next = line[++i];
                current.Append(next switch
                {
                    't' => '\t',
                    'n' => '\n',
                    'r' => '\r',
                    '0' => '\0',
                    'b' => '\b',
                    'f' => '\f',
                    _ => next,
                });
            }
            else current.Append(c);
        }
        values.Add(current.ToString());
        return [.. values];
    }
}
