using System.Diagnostics;
using System.Text.Json;
using Bmm.Database;
using Bmm.Tests.Infrastructure;
using Npgsql;

namespace Bmm.Tests.Hardening;

/// <summary>
/// PostgreSQL restarted (fast, then immediate: a crash and recovery) under a running `bmm follow`
/// and then a running `bmm serve`, with writes before and after each restart. A private cluster
/// of this class's own, started by the product itself, so that the other classes' server is
/// never restarted.
/// </summary>
public sealed class ServerRestartTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "bmm-restart-" + Guid.NewGuid().ToString("N")[..8]);
    private string _connection = "";
    private string _binaries = "";
    private readonly bool _asServerUser = Environment.UserName == "root";
    private int _nextId = 1;

    public async ValueTask InitializeAsync()
    {
        _binaries = EmbeddedPostgres.FindServerBinaries() ?? throw new InvalidOperationException("No PostgreSQL server binaries.");
        var migrate = await BmmProcess.RunAsync(null, EmbeddedDirectory(), null, "migrate", "--with-site-schema");
        Assert.True(migrate.ExitCode == 0, migrate.ToString());
        using var state = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_directory, "embedded.json"), TestContext.Current.CancellationToken));
        _connection = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1", Port = state.RootElement.GetProperty("Port").GetInt32(), Username = "postgres",
            Password = state.RootElement.GetProperty("Password").GetString(), Database = "bmm",
        }.ConnectionString;
    }

    [Fact]
    public async Task Follow_and_serve_survive_fast_and_immediate_restarts_and_end_equal_to_the_oracle()
    {
        var settings = new Dictionary<string, string>
        {
            ["BMM_Follow__MetricsUrl"] = "", ["BMM_Serve__MetricsUrl"] = $"http://127.0.0.1:{FreePort()}/",
            ["BMM_Serve__FailureBackoffCeilingSeconds"] = "2",
        };
        await WriteAsync(20);

        using (var follower = BmmProcess.Start(_connection, settings, "follow"))
        {
            await ExactAsync("follow, before any restart", incremental: true);
            foreach (var mode in new[] { "fast", "immediate" })
            {
                await WriteAsync(10);
                Restart(mode);
                await WriteAsync(10);
                await ExactAsync($"follow, after a {mode} restart", incremental: true);
                Assert.False(follower.HasExited, $"bmm follow exited after a {mode} restart");
            }
            follower.Kill(entireProcessTree: true);
            await follower.WaitForExitAsync(TestContext.Current.CancellationToken);
        }

        var serveLog = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using (var serve = BmmProcess.Start(_connection, settings, serveLog, "serve", "--schedule", "* * * * * *", "--strategy", "setbased"))
        {
            // Serving first: a server that cannot be reached at start is exit 2, by design.
            await WriteAsync(5);
            await ExactAsync("serve, before any restart", incremental: false);
            foreach (var mode in new[] { "fast", "immediate" })
            {
                await WriteAsync(10);
                Restart(mode);
                await WriteAsync(10);
                await ExactAsync($"serve, after a {mode} restart (its log:\n{string.Join("\n", serveLog.TakeLast(15))})", incremental: false);
                Assert.False(serve.HasExited, $"bmm serve exited after a {mode} restart");
            }
            serve.Kill(entireProcessTree: true);
            await serve.WaitForExitAsync(TestContext.Current.CancellationToken);
        }
    }

    /// <summary>Waits until the table equals the oracle (and the incremental state its recomputation); fails with the difference after 90 s.</summary>
    private async Task ExactAsync(string context, bool incremental)
    {
        await using var database = TestDatabase.Attach(_connection);
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < TimeSpan.FromSeconds(90))
        {
            try
            {
                if ((await database.VerifyAsync()).Drift == 0
                    && (!incremental || await database.ScalarAsync<long>("SELECT count(*) FROM bmm.reconcile_check('incremental', true, 0, 2147483647)") == 0))
                    return;
            }
            catch (NpgsqlException)
            {
                // The server is still recovering.
            }
            await Task.Delay(250, TestContext.Current.CancellationToken);
        }
        await database.AssertMatchesOracleAsync(context);
        if (incremental) await database.AssertIncrementalStateMatchesAsync(context);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary><paramref name="count"/> transactions of the site's kinds, each retried until the server takes it.</summary>
    private async Task WriteAsync(int count)
    {
        for (var i = 0; i < count; i++)
        {
            var id = _nextId++;
            var model = 1 + id % 7;
            var sql = (id % 4) switch
            {
                0 => $"""INSERT INTO "ResourceReview" ("id", "modelId", "modelVersionId", "userId", "rating") SELECT {id}, "modelId", "id", {id % 5}, 5 FROM "ModelVersion" WHERE "modelId" = {model} LIMIT 1""",
                1 => $"""UPDATE "ModelVersionMetric" SET "downloadCount" = "downloadCount" + {id}, "updatedAt" = now() WHERE "modelVersionId" % 7 = {id % 7}""",
                2 => $"""UPDATE "ModelVersion" SET "baseModel" = (ARRAY['SDXL 1.0', 'Pony', 'Flux.1 D'])[1 + {id} % 3], "updatedAt" = now() WHERE "id" = (SELECT min("id") FROM "ModelVersion" WHERE "modelId" = {model})""",
                _ => $"""
                    INSERT INTO "Model" ("id", "name", "userId", "status") VALUES ({model}, 'm', 1, 'Published') ON CONFLICT DO NOTHING;
                    INSERT INTO "ModelVersion" ("id", "modelId", "name", "baseModel", "status") VALUES ({1000 + id}, {model}, 'v', 'SDXL 1.0', 'Published');
                    INSERT INTO "ModelVersionMetric" ("modelVersionId", "downloadCount", "imageCount") VALUES ({1000 + id}, {id}, 1);
                    """,
            };
            var attempts = Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    await using var connection = new NpgsqlConnection(_connection + ";Pooling=false");
                    await connection.OpenAsync(TestContext.Current.CancellationToken);
                    await using var command = new NpgsqlCommand("BEGIN;" + sql + ";COMMIT;", connection);
                    await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
                    break;
                }
                catch (NpgsqlException) when (attempts.Elapsed < TimeSpan.FromSeconds(60))
                {
                    await Task.Delay(200, TestContext.Current.CancellationToken);
                }
            }
        }
    }

    // With its output in the log: a server started by pg_ctl otherwise holds pg_ctl's output pipe open.
    private void Restart(string mode) => PgCtl("restart", "-m", mode, "-w", "-t", "60", "-l", Path.Combine(_directory, "server.log"));

    private void PgCtl(params string[] arguments)
    {
        var pgCtl = Path.Combine(_binaries, "pg_ctl");
        string[] all = ["-D", Path.Combine(_directory, "data"), .. arguments];
        var info = _asServerUser ? new ProcessStartInfo("runuser") : new ProcessStartInfo(pgCtl);
        if (_asServerUser) foreach (var argument in new[] { "-u", "postgres", "--", pgCtl }) info.ArgumentList.Add(argument);
        foreach (var argument in all) info.ArgumentList.Add(argument);
        info.RedirectStandardOutput = info.RedirectStandardError = true;
        info.WorkingDirectory = "/";
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"pg_ctl {string.Join(' ', arguments)}: {output}");
    }

    private Dictionary<string, string> EmbeddedDirectory() => new() { ["BMM_EMBEDDED_DIR"] = _directory };

    public ValueTask DisposeAsync()
    {
        try
        {
            PgCtl("stop", "-m", "immediate");
        }
        catch (Exception e) when (e is Xunit.Sdk.XunitException or InvalidOperationException)
        {
            // Not started, or already stopped.
        }
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
        return ValueTask.CompletedTask;
    }
}
