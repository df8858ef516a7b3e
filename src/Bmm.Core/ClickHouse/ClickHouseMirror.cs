using System.Diagnostics;
using System.Globalization;
using System.Text;
using Bmm.Capture;
using Bmm.Telemetry;
using Bmm.Writing;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.ClickHouse;

/// <summary>
/// A row the change log says changed, by kind ('m' and 'v' a version, 'r' a review, 'o' a model),
/// with the models a version's log rows name (where it was or is Published) and the versions a
/// review's log rows name.
/// </summary>
internal readonly record struct LogKey(char Kind, int RowId, int[] Models, int[] Versions)
{
    /// <summary>A key a repair makes up: it names nothing beyond its row.</summary>
    public LogKey(char kind, int rowId) : this(kind, rowId, [], []) { }
}

/// <summary>
/// The models a batch must recompute, and those of them whose every row is compared (the write
/// path's scope): the models whose pairs may have gone or whose copied columns may be stale.
/// </summary>
internal sealed record MirroredModels(int[] Models, int[] Whole);

/// <summary>What a load copied, and the position the consumer starts from.</summary>
public sealed record LoadReport(long Versions, long Reviews, long StartXid, double Seconds);

/// <summary>
/// The mirror of the site's counted rows in ClickHouse, and the computation of the table's
/// numbers there. The log says which row changed; a batch re-reads those rows as they are now,
/// writes them where they count now and a tombstone where they counted before, and recomputes
/// every model either place names. Rows are state, not deltas: replaying a batch, or reading a
/// row whose later change is still ahead in the log, leaves the mirror as the site is.
/// </summary>
public sealed class ClickHouseMirror(ClickHouseClient client, ILogger logger)
{
    public const string Consumer = "clickhouse";

    private readonly ClickHouseSql _sql = new(client.Options);

    public ClickHouseClient Client => client;

    /// <summary>
    /// The PostgreSQL database this mirror was loaded from, or null when there is no complete
    /// mirror (never loaded, a load cut short, or ClickHouse's data lost).
    /// </summary>
    public async Task<string?> LoadedFromAsync(CancellationToken cancellationToken)
    {
        List<string[]> rows;
        try
        {
            rows = await client.QueryAsync(_sql.ReadMeta, cancellationToken);
        }
        catch (ClickHouseException e) when (e.Code is 60 or 81)
        {
            // 60: no such table, 81: no such database.
            return null;
        }
        return rows.FirstOrDefault(r => r[0] == "source")?[1];
    }

    /// <summary>Creates the tables where missing; with <paramref name="rebuild"/>, drops them first.</summary>
    public async Task CreateTablesAsync(bool rebuild, CancellationToken cancellationToken)
    {
        var nodes = client.Options.Nodes;
        // One server, or a cluster given by one node: its distributed DDL reaches every node.
        var onCluster = _sql.Sharded && nodes.Count == 1;
        for (var i = 0; i < nodes.Count; i++)
        {
            using var node = i == 0 ? null : new ClickHouseClient(client.Options, nodes[i]);
            var target = node ?? client;
            if (rebuild)
                foreach (var statement in _sql.Drop(onCluster)) await target.ExecuteAsync(statement, cancellationToken);
            foreach (var statement in _sql.Create(distributed: i == 0, onCluster)) await target.ExecuteAsync(statement, cancellationToken);
            if (onCluster) break;
        }
    }

    /// <summary>
    /// Copies every counted version and review from one snapshot (streamed from COPY into INSERT,
    /// never held whole), then places the consumer where the snapshot begins (or where another
    /// consumer is, if earlier: see <see cref="MirrorSql.PlaceConsumer"/>): a change committed
    /// meanwhile is in the log past that point, and replaying one the snapshot already holds
    /// re-reads the same rows. The tables are dropped and created first, on every node. The table
    /// is not written: the log's replay and reconciliation do.
    /// </summary>
    public async Task<LoadReport> LoadAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var started = Stopwatch.StartNew();
        string database;
        await using (var hold = dataSource.CreateConnection())
        {
            await hold.OpenAsync(cancellationToken);
            database = hold.Database;
            // Registered first, at the horizon, so that upkeep keeps the log from here on while the load runs.
            await ChangeLog.RegisterConsumerAtAsync(hold, null, Consumer, "", cancellationToken);
        }
        await CreateTablesAsync(rebuild: true, cancellationToken);

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        long ver;
        await using (var next = new NpgsqlCommand(MirrorSql.NextVersion, connection))
            ver = (long)(await next.ExecuteScalarAsync(cancellationToken))!;
        await using var snapshot = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        long xmin;
        await using (var command = new NpgsqlCommand(MirrorSql.SnapshotXmin, connection, snapshot))
            xmin = (long)(await command.ExecuteScalarAsync(cancellationToken))!;
        var versions = await CopyAsync(connection, MirrorSql.CopyVersions(ver), _sql.Versions, ClickHouseSql.VersionColumns, "versions", cancellationToken);
        var reviews = await CopyAsync(connection, MirrorSql.CopyReviews(ver), _sql.Reviews, ClickHouseSql.ReviewColumns, "reviews", cancellationToken);
        await snapshot.CommitAsync(cancellationToken);

        // The marker last: a load cut short leaves none, and the next run loads again.
        await MarkLoadedAsync(database, ver, cancellationToken);
        await using (var place = new NpgsqlCommand(MirrorSql.PlaceConsumer, connection))
        {
            place.Parameters.AddWithValue("name", Consumer);
            place.Parameters.AddWithValue("xid", xmin - 1);
            await place.ExecuteNonQueryAsync(cancellationToken);
        }
        return new LoadReport(versions, reviews, xmin, started.Elapsed.TotalSeconds);
    }

    /// <summary>Records that the mirror is complete and mirrors <paramref name="database"/> (what <see cref="LoadedFromAsync"/> reads).</summary>
    internal Task MarkLoadedAsync(string database, long ver, CancellationToken cancellationToken) =>
        client.InsertTsvAsync(_sql.Meta, ClickHouseSql.MetaColumns,
            stream => WriteAsync(stream, string.Create(CultureInfo.InvariantCulture, $"source\t{Escape(database)}\t{ver}\n")), cancellationToken);

    private async Task<long> CopyAsync(NpgsqlConnection connection, string copy, string table, string columns, string what, CancellationToken cancellationToken)
    {
        long rows = 0;
        var progress = Stopwatch.StartNew();
        using var reader = await connection.BeginTextExportAsync(copy, cancellationToken);
        await client.InsertTsvAsync(table, columns, async stream =>
        {
            var chars = new char[1 << 16];
            var bytes = new byte[Encoding.UTF8.GetMaxByteCount(chars.Length)];
            int read;
            while ((read = await reader.ReadAsync(chars.AsMemory(), cancellationToken)) > 0)
            {
                rows += chars.AsSpan(0, read).Count('\n');
                var count = Encoding.UTF8.GetBytes(chars, 0, read, bytes, 0);
                await stream.WriteAsync(bytes.AsMemory(0, count), cancellationToken);
                if (progress.Elapsed.TotalSeconds >= 5)
                {
                    Log.ClickHouseLoadProgress(logger, what, rows);
                    progress.Restart();
                }
            }
        }, cancellationToken);
        Log.ClickHouseLoadProgress(logger, what, rows);
        return rows;
    }

    /// <summary>
    /// Mirrors the rows <paramref name="keys"/> name as they are now and returns every model
    /// whose numbers they may have moved: where each row counted in the mirror and where it counts
    /// now, the models edited or deleted, and the models the log's rows name (a mirror loaded
    /// since those changes holds no trace of where they counted before, which the table may still
    /// show). Whole are the models a version left, the models a version row names (the site's
    /// publish trigger may have inserted a row with a model's columns as its writer saw them) and
    /// the models edited or deleted; a metric or a review cannot remove a pair. Runs in the
    /// caller's transaction, which reads the site.
    /// </summary>
    internal async Task<MirroredModels> MirrorAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<LogKey> keys, CancellationToken cancellationToken)
    {
        var versionIds = keys.Where(k => k.Kind is 'm' or 'v').Select(k => k.RowId).Distinct().ToArray();
        var placedVersions = keys.Where(k => k.Kind == 'v').Select(k => k.RowId).ToHashSet();
        var reviewIds = keys.Where(k => k.Kind == 'r').Select(k => k.RowId).Distinct().ToArray();
        var whole = new HashSet<int>(keys.Where(k => k.Kind == 'o').Select(k => k.RowId).Concat(keys.SelectMany(k => k.Models)));
        var models = new HashSet<int>(whole);
        var reviewVersions = keys.SelectMany(k => k.Versions).Distinct().ToArray();
        if (reviewVersions.Length > 0)
        {
            await using var command = new NpgsqlCommand(MirrorSql.ModelsOfVersions, connection, transaction);
            command.Parameters.AddWithValue("ids", reviewVersions);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken)) models.Add(reader.GetInt32(0));
        }
        if (versionIds.Length == 0 && reviewIds.Length == 0) return new MirroredModels([.. models.Order()], [.. whole.Order()]);

        long ver;
        await using (var next = new NpgsqlCommand(MirrorSql.NextVersion, connection, transaction))
            ver = (long)(await next.ExecuteScalarAsync(cancellationToken))!;

        // Versions: where they count now (PostgreSQL) and where the mirror counts them.
        var versionsNow = new Dictionary<int, (int Model, string Base, long Downloads, long Images)>();
        await using (var command = new NpgsqlCommand(MirrorSql.Versions, connection, transaction))
        {
            command.Parameters.AddWithValue("ids", versionIds);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
                versionsNow[reader.GetInt32(1)] = (reader.GetInt32(0), reader.GetString(2), reader.GetInt64(3), reader.GetInt64(4));
        }
        var versionsBefore = await PlacementsAsync(_sql.VersionPlacements, cancellationToken, Ids("keys", versionIds));

        // Reviews, and every review of a version a 'v' row names (they count where it does).
        var reviewsNow = new Dictionary<int, (int Model, int Version, string Base, int User)>();
        Dictionary<int, List<int>> reviewsBefore = [];
        if (reviewIds.Length > 0 || placedVersions.Count > 0)
        {
            await using (var command = new NpgsqlCommand(MirrorSql.Reviews, connection, transaction))
            {
                command.Parameters.AddWithValue("reviews", reviewIds);
                command.Parameters.AddWithValue("versions", placedVersions.ToArray());
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                    reviewsNow[reader.GetInt32(1)] = (reader.GetInt32(0), reader.GetInt32(2), reader.GetString(3), reader.GetInt32(4));
            }
            reviewsBefore = await PlacementsAsync(_sql.ReviewPlacements, cancellationToken, Ids("keys", reviewIds), Ids("versions", [.. placedVersions]));
        }

        var versionRows = new StringBuilder();
        foreach (var id in versionIds)
        {
            var now = versionsNow.TryGetValue(id, out var v) ? v : default((int Model, string Base, long Downloads, long Images)?);
            foreach (var model in versionsBefore.GetValueOrDefault(id, []).Where(m => m != now?.Model))
            {
                versionRows.Append(CultureInfo.InvariantCulture, $"{model}\t{id}\t\t0\t0\t1\t{ver}\n");
                models.Add(model);
                whole.Add(model);
            }
            if (now is { } row)
            {
                versionRows.Append(CultureInfo.InvariantCulture, $"{row.Model}\t{id}\t");
                Tsv.Append(versionRows, row.Base).Append(CultureInfo.InvariantCulture, $"\t{row.Downloads}\t{row.Images}\t0\t{ver}\n");
                models.Add(row.Model);
                if (placedVersions.Contains(id)) whole.Add(row.Model);
            }
        }
        var reviewRows = new StringBuilder();
        foreach (var id in reviewIds.Concat(reviewsNow.Keys).Concat(reviewsBefore.Keys).Distinct())
        {
            var now = reviewsNow.TryGetValue(id, out var r) ? r : default((int Model, int Version, string Base, int User)?);
            foreach (var model in reviewsBefore.GetValueOrDefault(id, []).Where(m => m != now?.Model))
            {
                reviewRows.Append(CultureInfo.InvariantCulture, $"{model}\t{id}\t0\t\t0\t1\t{ver}\n");
                models.Add(model);
            }
            if (now is { } row)
            {
                reviewRows.Append(CultureInfo.InvariantCulture, $"{row.Model}\t{id}\t{row.Version}\t");
                Tsv.Append(reviewRows, row.Base).Append(CultureInfo.InvariantCulture, $"\t{row.User}\t0\t{ver}\n");
                models.Add(row.Model);
            }
        }
        if (versionRows.Length > 0)
            await client.InsertTsvAsync(_sql.Versions, ClickHouseSql.VersionColumns, s => WriteAsync(s, versionRows.ToString()), cancellationToken);
        if (reviewRows.Length > 0)
            await client.InsertTsvAsync(_sql.Reviews, ClickHouseSql.ReviewColumns, s => WriteAsync(s, reviewRows.ToString()), cancellationToken);
        return new MirroredModels([.. models.Order()], [.. whole.Order()]);
    }

    /// <summary>
    /// Mirrors every row of <paramref name="models"/> again, whatever the log said (the queue, a
    /// repair): every version of theirs in PostgreSQL or in the mirror, every review the mirror
    /// holds there and every review of those versions. Returns the models to recompute, all whole.
    /// </summary>
    internal async Task<int[]> MirrorModelsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] models, CancellationToken cancellationToken)
    {
        var keys = models.Select(m => new LogKey('o', m)).ToList();
        await using (var command = new NpgsqlCommand(MirrorSql.VersionsOfModels, connection, transaction))
        {
            command.Parameters.AddWithValue("ids", models);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken)) keys.Add(new LogKey('v', reader.GetInt32(0)));
        }
        foreach (var row in await client.QueryAsync(_sql.RowsAtModels, cancellationToken, Ids("ids", models)))
            keys.Add(new LogKey(row[0][0], int.Parse(row[1], CultureInfo.InvariantCulture)));
        return (await MirrorAsync(connection, transaction, keys, cancellationToken)).Models;
    }

    /// <summary>
    /// The numbers of every pair of <paramref name="models"/> as the mirror holds them, written
    /// through the one write path; every row of <paramref name="whole"/> is compared, so that
    /// their pairs that are gone go (all of <paramref name="models"/> when not given).
    /// </summary>
    internal async Task<WriteCounts> WriteModelsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int[] models, CancellationToken cancellationToken, int[]? whole = null)
    {
        if (models.Length == 0) return WriteCounts.None;
        var ids = Ids("ids", models);
        var (low, high) = (models.Min(), models.Max());
        var sums = client.QueryAsync(_sql.Sums(low, high), cancellationToken, ids);
        var thumbs = client.QueryAsync(_sql.Thumbs(low, high), cancellationToken, ids);
        await Task.WhenAll(sums, thumbs);
        var thumbsByPair = (await thumbs).ToDictionary(r => (int.Parse(r[0], CultureInfo.InvariantCulture), r[1]), r => int.Parse(r[2], CultureInfo.InvariantCulture));
        var pairs = await sums;
        var pairModels = new int[pairs.Count];
        var pairBases = new string[pairs.Count];
        var pairThumbs = new int[pairs.Count];
        var pairDownloads = new long[pairs.Count];
        var pairImages = new long[pairs.Count];
        for (var i = 0; i < pairs.Count; i++)
        {
            pairModels[i] = int.Parse(pairs[i][0], CultureInfo.InvariantCulture);
            pairBases[i] = pairs[i][1];
            pairThumbs[i] = thumbsByPair.GetValueOrDefault((pairModels[i], pairBases[i]));
            pairDownloads[i] = long.Parse(pairs[i][2], CultureInfo.InvariantCulture);
            pairImages[i] = long.Parse(pairs[i][3], CultureInfo.InvariantCulture);
        }
        return await WritePath.WritePairsAsync(connection, transaction, whole ?? models, pairModels, pairBases, pairThumbs, pairDownloads, pairImages, cancellationToken);
    }

    /// <summary>
    /// Recomputes every pair from the mirror (the models it holds and the models the table has
    /// rows of, so rows of models that no longer count go), <paramref name="batchModels"/> models
    /// per PostgreSQL transaction; reports the models done after each.
    /// </summary>
    public async Task<WriteCounts> RecomputeAllAsync(Database.Transactions transactions, int batchModels, IProgress<(long Done, long Total)>? progress, CancellationToken cancellationToken)
    {
        var models = new SortedSet<int>();
        foreach (var row in await client.QueryAsync($"SELECT DISTINCT model_id FROM {_sql.Versions} WHERE deleted = 0", cancellationToken))
            models.Add(int.Parse(row[0], CultureInfo.InvariantCulture));
        await using (var command = transactions.DataSource.CreateCommand(MirrorSql.TableModels))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            while (await reader.ReadAsync(cancellationToken)) models.Add(reader.GetInt32(0));
        var writes = new List<WriteCounts>();
        long done = 0;
        foreach (var batch in models.Chunk(batchModels))
        {
            writes.Add(await transactions.RunAsync((connection, transaction, ct) => WriteModelsAsync(connection, transaction, batch, ct), cancellationToken));
            done += batch.Length;
            progress?.Report((done, models.Count));
        }
        return WriteCounts.Sum(writes);
    }

    private async Task<Dictionary<int, List<int>>> PlacementsAsync(string sql, CancellationToken cancellationToken, params ExternalTable[] tables)
    {
        var placements = new Dictionary<int, List<int>>();
        foreach (var row in await client.QueryAsync(sql, cancellationToken, tables))
        {
            var key = int.Parse(row[0], CultureInfo.InvariantCulture);
            if (!placements.TryGetValue(key, out var list)) placements[key] = list = [];
            list.Add(int.Parse(row[1], CultureInfo.InvariantCulture));
        }
        return placements;
    }

    private static ExternalTable Ids(string name, int[] ids) =>
        new(name, "id", "Int32", ids.Select(id => id.ToString(CultureInfo.InvariantCulture)));

    private static string Escape(string value) => Tsv.Append(new StringBuilder(), value).ToString();

    private static async Task WriteAsync(Stream stream, string text) => await stream.WriteAsync(Encoding.UTF8.GetBytes(text));
}
