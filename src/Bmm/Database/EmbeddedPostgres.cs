using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Bmm.Configuration;
using Bmm.Hosting;
using Bmm.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Bmm.Database;

/// <summary>
/// A private PostgreSQL cluster started from the machine's server binaries, used when no
/// connection string is given. The cluster lives in an ignored project-local folder, listens on
/// 127.0.0.1 only, on a free port, with a generated password; a later command reuses it.
/// Not durable (fsync off): it is for the demo, the tests and benchmarks, never for site data.
/// </summary>
public sealed class EmbeddedPostgres
{
    private const string ServerUser = "postgres";
    private readonly ILogger _logger;
    private readonly string _baseDirectory;
    private readonly string _binDirectory;
    private readonly bool _runAsServerUser;

    private EmbeddedPostgres(ILogger logger, string baseDirectory, string binDirectory, bool runAsServerUser)
    {
        _logger = logger;
        _baseDirectory = baseDirectory;
        _binDirectory = binDirectory;
        _runAsServerUser = runAsServerUser;
    }

    private string DataDirectory => Path.Combine(_baseDirectory, "data");
    private string StateFile => Path.Combine(_baseDirectory, "embedded.json");
    private string LogFile => Path.Combine(_baseDirectory, "server.log");

    /// <summary>Starts or reuses the embedded server and returns a connection string to <paramref name="database"/>, created if missing.</summary>
    public static async Task<string> EnsureAsync(string database, ILogger logger, CancellationToken cancellationToken)
    {
        var binDirectory = FindServerBinaries() ?? throw new UsageException(
            "No PostgreSQL server binaries were found (no initdb in `pg_config --bindir` or /usr/lib/postgresql/*/bin): " +
            "install the Debian package postgresql-15 (apt-get install postgresql-15), or pass --connection \"Host=...;Database=...\" to use an existing server.");
        var runAsServerUser = Environment.UserName == "root" || Environment.GetEnvironmentVariable("USER") == "root";
        var baseDirectory = ChooseBaseDirectory(binDirectory, runAsServerUser);
        var server = new EmbeddedPostgres(logger, baseDirectory, binDirectory, runAsServerUser);
        var adminConnection = await server.EnsureRunningAsync(cancellationToken);
        return await CreateDatabaseIfMissingAsync(adminConnection, database, cancellationToken);
    }

    /// <summary>The folder holding initdb: from pg_config --bindir, else the newest /usr/lib/postgresql/*/bin.</summary>
    public static string? FindServerBinaries()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("BMM_PG_BINDIR");
        if (!string.IsNullOrEmpty(fromEnvironment))
            return File.Exists(Path.Combine(fromEnvironment, "initdb")) ? fromEnvironment : null;
        try
        {
            var pgConfig = RunCapture("pg_config", ["--bindir"]);
            if (pgConfig.ExitCode == 0 && File.Exists(Path.Combine(pgConfig.Output.Trim(), "initdb")))
                return pgConfig.Output.Trim();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // pg_config is not installed; look in the Debian layout instead.
        }
        const string debianRoot = "/usr/lib/postgresql";
        if (!Directory.Exists(debianRoot)) return null;
        return Directory.GetDirectories(debianRoot)
            .Select(d => (Version: int.TryParse(Path.GetFileName(d), out var v) ? v : -1, Bin: Path.Combine(d, "bin")))
            .Where(d => d.Version >= 0 && File.Exists(Path.Combine(d.Bin, "initdb")))
            .OrderByDescending(d => d.Version)
            .Select(d => d.Bin)
            .FirstOrDefault();
    }

    private static string ChooseBaseDirectory(string binDirectory, bool runAsServerUser)
    {
        var major = Path.GetFileName(Path.GetDirectoryName(binDirectory)) ?? "pg";
        var configured = Environment.GetEnvironmentVariable("BMM_EMBEDDED_DIR");
        if (!string.IsNullOrEmpty(configured)) return Path.GetFullPath(configured);
        var projectRoot = LocalServerFiles.FindProjectRoot();
        var local = Path.Combine(projectRoot ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share", "bmm"), ".bmm", $"pg{major}");
        if (!runAsServerUser || IsTraversableByOthers(local)) return local;
        // The server runs as postgres, which may not be able to enter the clone's folder:
        // keep the cluster in the temp folder instead, one per project folder.
        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(local)))[..12].ToLowerInvariant();
        return Path.Combine(Path.GetTempPath(), $"bmm-{hash}", $"pg{major}");
    }


    private static bool IsTraversableByOthers(string path)
    {
        for (var dir = new DirectoryInfo(path).Parent; dir is not null; dir = dir.Parent)
        {
            if (!dir.Exists) continue;
            if ((dir.UnixFileMode & UnixFileMode.OtherExecute) == 0) return false;
        }
        return true;
    }

    private async Task<string> EnsureRunningAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(_baseDirectory);
        if (_runAsServerUser && !OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(_baseDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            Run("chown", [ServerUser, _baseDirectory], asServerUser: false);
        }

        // One process at a time decides whether to reuse, start or create the cluster.
        await using var fileLock = await LocalServerFiles.AcquireFileLockAsync(Path.Combine(_baseDirectory, "embedded.lock"), cancellationToken);

        var state = ReadState();
        if (state is not null && await CanConnectAsync(state, cancellationToken))
        {
            HostLog.EmbeddedReused(_logger, state.Port, DataDirectory);
            return state.ConnectionString("postgres");
        }

        if (!File.Exists(Path.Combine(DataDirectory, "PG_VERSION")) || state is null)
        {
            Initialize(out state);
        }
        else
        {
            StopIfRunning();
            RemoveStalePidFile();
        }

        var port = FreePort();
        state = state with { Port = port };
        WriteState(state);
        var start = Run(Path.Combine(_binDirectory, "pg_ctl"),
            ["-D", DataDirectory, "-l", LogFile, "-o", $"-p {port}", "-w", "-t", "60", "start"], _runAsServerUser);
        if (start.ExitCode != 0)
            throw new UsageException($"The embedded PostgreSQL did not start (see {LogFile}): {start.Output.Trim()}");
        HostLog.EmbeddedStarted(_logger, port, DataDirectory);
        return state.ConnectionString("postgres");
    }

    private void Initialize(out EmbeddedState state)
    {
        if (Directory.Exists(DataDirectory)) Directory.Delete(DataDirectory, recursive: true);
        var password = Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
        var passwordFile = Path.Combine(_baseDirectory, "initdb.pw");
        File.WriteAllText(passwordFile, password);
        try
        {
            if (_runAsServerUser) Run("chown", [ServerUser, passwordFile], asServerUser: false);
            var init = Run(Path.Combine(_binDirectory, "initdb"),
                ["-D", DataDirectory, "-U", ServerUser, "-E", "UTF8", "--locale=C", "-A", "scram-sha-256",
                 "--pwfile", passwordFile, "--no-sync"], _runAsServerUser);
            if (init.ExitCode != 0)
                throw new UsageException($"initdb failed for the embedded PostgreSQL in {DataDirectory}: {init.Output.Trim()}");
        }
        finally
        {
            File.Delete(passwordFile);
        }

        // Loopback only, no Unix socket, UTC; memory sized as a production server of this machine
        // would be (a quarter for shared buffers); durability off for a fast throwaway cluster
        // (bench turns it back on while it measures).
        var memoryMb = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024 * 1024);
        File.AppendAllText(Path.Combine(DataDirectory, "postgresql.conf"), $"""

            # bmm embedded server
            listen_addresses = '127.0.0.1'
            unix_socket_directories = ''
            timezone = 'UTC'
            log_timezone = 'UTC'
            max_connections = 200
            shared_buffers = '{Math.Max(128, memoryMb / 4)}MB'
            effective_cache_size = '{Math.Max(256, memoryMb / 2)}MB'
            work_mem = '32MB'
            maintenance_work_mem = '{Math.Clamp(memoryMb / 16, 64, 2048)}MB'
            random_page_cost = 1.1
            max_wal_size = '8GB'
            checkpoint_timeout = '15min'
            fsync = off
            synchronous_commit = off
            full_page_writes = off
            shared_preload_libraries = 'pg_stat_statements'
            """);
        state = new EmbeddedState(0, password);
        WriteState(state);
        HostLog.EmbeddedInitialized(_logger, DataDirectory);
    }

    private void StopIfRunning()
    {
        // A server from this folder that answers pg_ctl but not our password is not ours to keep.
        var status = Run(Path.Combine(_binDirectory, "pg_ctl"), ["-D", DataDirectory, "status"], _runAsServerUser);
        if (status.ExitCode == 0)
            Run(Path.Combine(_binDirectory, "pg_ctl"), ["-D", DataDirectory, "-m", "fast", "-w", "stop"], _runAsServerUser);
    }

    private void RemoveStalePidFile()
    {
        var pidFile = Path.Combine(DataDirectory, "postmaster.pid");
        if (!File.Exists(pidFile)) return;
        var firstLine = File.ReadLines(pidFile).FirstOrDefault();
        if (!int.TryParse(firstLine, out var pid)) { File.Delete(pidFile); return; }
        try
        {
            using var process = Process.GetProcessById(pid);
            if (!process.HasExited) return;
        }
        catch (ArgumentException)
        {
            // No such process.
        }
        File.Delete(pidFile);
        HostLog.EmbeddedStaleRemoved(_logger, pid);
    }

    private EmbeddedState? ReadState()
    {
        try
        {
            return File.Exists(StateFile) ? JsonSerializer.Deserialize(File.ReadAllText(StateFile), EmbeddedStateJson.Default.EmbeddedState) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private void WriteState(EmbeddedState state)
    {
        File.WriteAllText(StateFile, JsonSerializer.Serialize(state, EmbeddedStateJson.Default.EmbeddedState));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(StateFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    /// <summary>The server's own connections, named so that Npgsql's instruments do not show their connection strings.</summary>
    private static NpgsqlDataSource Admin(string connectionString) => new NpgsqlDataSourceBuilder(connectionString) { Name = "bmm-embedded" }.Build();

    private static async Task<bool> CanConnectAsync(EmbeddedState state, CancellationToken cancellationToken)
    {
        if (state.Port == 0) return false;
        try
        {
            await using var dataSource = Admin(state.ConnectionString("postgres") + ";Timeout=3");
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            return true;
        }
        catch (NpgsqlException)
        {
            return false;
        }
    }

    private static async Task<string> CreateDatabaseIfMissingAsync(string adminConnectionString, string database, CancellationToken cancellationToken)
    {
        await using (var dataSource = Admin(adminConnectionString))
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = @name", connection);
            exists.Parameters.AddWithValue("name", database);
            if (await exists.ExecuteScalarAsync(cancellationToken) is null)
            {
                try
                {
                    await using var create = new NpgsqlCommand($"CREATE DATABASE {QuoteIdentifier(database)}", connection);
                    await create.ExecuteNonQueryAsync(cancellationToken);
                }
                catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.DuplicateDatabase or PostgresErrorCodes.UniqueViolation)
                {
                    // Created concurrently by another process.
                }
            }
        }
        return new NpgsqlConnectionStringBuilder(adminConnectionString) { Database = database }.ConnectionString;
    }

    internal static string QuoteIdentifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }


    private static ProcessResult Run(string fileName, IReadOnlyList<string> arguments, bool asServerUser)
    {
        if (!asServerUser) return RunCapture(fileName, arguments);
        return RunCapture("runuser", ["-u", ServerUser, "--", fileName, .. arguments]);
    }

    private static ProcessResult RunCapture(string fileName, IReadOnlyList<string> arguments)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {fileName}.");
        process.StandardInput.Close();
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return new ProcessResult(process.ExitCode, stdout + stderr.Result);
    }

    private sealed record ProcessResult(int ExitCode, string Output);

    internal sealed record EmbeddedState(int Port, string Password)
    {
        public string ConnectionString(string database) => new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = Port,
            Username = ServerUser,
            Password = Password,
            Database = database,
        }.ConnectionString;
    }
}

/// <summary>The embedded server's state file (port, password), serialized by generated code (NativeAOT).</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(EmbeddedPostgres.EmbeddedState))]
internal sealed partial class EmbeddedStateJson : System.Text.Json.Serialization.JsonSerializerContext;
