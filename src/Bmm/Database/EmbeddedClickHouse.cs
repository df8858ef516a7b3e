using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Xml.Linq;
using Bmm.ClickHouse;
using Bmm.Configuration;
using Bmm.Hosting;
using Microsoft.Extensions.Logging;

namespace Bmm.Database;

/// <summary>
/// Private ClickHouse servers started from the machine's clickhouse-server, used when no
/// ClickHouse:Url is given: one server, or a cluster of two (<see cref="ClusterName"/>) for the
/// sharded mirror. Each lives in a folder of its own under the project's ignored .bmm/ (or under
/// BMM_CLICKHOUSE_DIR), listens on 127.0.0.1 only, on ports kept across restarts, with a
/// generated password for the user bmm. It outlives the command that started it, and a later
/// command reuses it. For the demo, the tests and benchmarks, never for site data.
/// </summary>
public static class EmbeddedClickHouse
{
    /// <summary>The folder of the single server.</summary>
    public const string ServerFolder = "clickhouse";

    /// <summary>The folders of the cluster's two servers, shard 1 first.</summary>
    public const string Shard1Folder = "clickhouse-shard1";
    public const string Shard2Folder = "clickhouse-shard2";

    /// <summary>The cluster of the two shard servers, in both servers' remote_servers.</summary>
    public const string ClusterName = "bmm_shards";

    private const string User = "bmm";
    private const string Database = "bmm";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Starts or reuses the single server and returns how to reach it (its database bmm exists).</summary>
    public static Task<ClickHouseOptions> EnsureAsync(ILogger logger, CancellationToken cancellationToken) =>
        EnsureAsync(BaseDirectory(), logger, cancellationToken);

    internal static async Task<ClickHouseOptions> EnsureAsync(string baseDirectory, ILogger logger, CancellationToken cancellationToken) =>
        (await EnsureServersAsync(baseDirectory, [ServerFolder], cluster: null, logger, cancellationToken))[0];

    /// <summary>Starts or reuses the two servers of the cluster and returns how to reach shard 1, with Cluster set.</summary>
    public static async Task<ClickHouseOptions> EnsureClusterAsync(ILogger logger, CancellationToken cancellationToken) =>
        (await EnsureClusterNodesAsync(logger, cancellationToken))[0];

    /// <summary>
    /// Both servers of the cluster, shard 1 first, each with Cluster set: DDL goes to each of them,
    /// because ON CLUSTER needs ZooKeeper on ClickHouse 18.16.
    /// </summary>
    public static Task<IReadOnlyList<ClickHouseOptions>> EnsureClusterNodesAsync(ILogger logger, CancellationToken cancellationToken) =>
        EnsureClusterNodesAsync(BaseDirectory(), logger, cancellationToken);

    internal static Task<IReadOnlyList<ClickHouseOptions>> EnsureClusterNodesAsync(string baseDirectory, ILogger logger, CancellationToken cancellationToken) =>
        EnsureServersAsync(baseDirectory, [Shard1Folder, Shard2Folder], ClusterName, logger, cancellationToken);

    /// <summary>
    /// Stops the server of <paramref name="folderName"/> (every embedded ClickHouse when null) and
    /// waits for its exit. Its ports and data stay: the next Ensure starts it again on them.
    /// </summary>
    public static Task StopAsync(string? folderName, ILogger logger, CancellationToken cancellationToken) =>
        StopAsync(BaseDirectory(), folderName, logger, cancellationToken);

    internal static async Task StopAsync(string baseDirectory, string? folderName, ILogger logger, CancellationToken cancellationToken)
    {
        foreach (var name in folderName is null ? [ServerFolder, Shard1Folder, Shard2Folder] : new[] { folderName })
        {
            var server = new Server(Path.Combine(baseDirectory, name));
            if (!Directory.Exists(server.Folder)) continue;
            await using var fileLock = await LocalServerFiles.AcquireFileLockAsync(server.LockFile, cancellationToken);
            if (server.ReadState() is not { } state) continue;
            await server.StopAsync(state.Pid, logger, cancellationToken);
            server.WriteState(state with { Pid = 0 });
        }
    }

    private static async Task<IReadOnlyList<ClickHouseOptions>> EnsureServersAsync(
        string baseDirectory, string[] folderNames, string? cluster, ILogger logger, CancellationToken cancellationToken)
    {
        var binary = FindServer() ?? throw new UsageException(
            "No clickhouse-server was found: install Debian's clickhouse-server (apt-get install clickhouse-server), or set ClickHouse:Url to an existing server.");
        var servers = folderNames.Select(name => new Server(Path.Combine(baseDirectory, name))).ToArray();
        var locks = new List<FileStream>();
        try
        {
            // One process at a time decides whether to reuse or start them, locking in one order.
            foreach (var server in servers)
            {
                server.CreateFolder();
                locks.Add(await LocalServerFiles.AcquireFileLockAsync(server.LockFile, cancellationToken));
            }

            var states = servers.Select(s => s.ReadState()).ToArray();
            // The servers of a cluster log in to each other as bmm: one password for all of them.
            var password = states.FirstOrDefault(s => s is not null)?.Password ?? Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
            var running = new bool[servers.Length];
            var ports = new HashSet<int>();
            for (var i = 0; i < servers.Length; i++)
            {
                var state = states[i];
                running[i] = state is not null && state.Password == password && servers[i].IsServer(state.Pid) && await AnswersAsync(state, cancellationToken);
                if (running[i])
                {
                    ports.UnionWith([state!.HttpPort, state.TcpPort]);
                    continue;
                }
                // A process of this folder that does not answer with our password is not ours to keep.
                if (state is not null) await servers[i].StopAsync(state.Pid, logger, cancellationToken);
                states[i] = new State(
                    await KeepOrChoosePortAsync(state?.HttpPort, ports, cancellationToken),
                    await KeepOrChoosePortAsync(state?.TcpPort, ports, cancellationToken),
                    password, Pid: 0);
            }

            var nodes = states.Select(s => s!).ToArray();
            for (var i = 0; i < servers.Length; i++)
            {
                // A running server rereads a changed config.xml (its cluster) by itself.
                servers[i].WriteConfiguration(nodes[i], cluster is null ? [] : nodes);
            }
            for (var i = 0; i < servers.Length; i++)
            {
                if (running[i])
                {
                    HostLog.ClickHouseReused(logger, Url(nodes[i]), servers[i].Folder);
                    continue;
                }
                nodes[i] = nodes[i] with { Pid = servers[i].Launch(binary) };
                servers[i].WriteState(nodes[i]);
            }
            for (var i = 0; i < servers.Length; i++)
            {
                if (running[i]) continue;
                await servers[i].WaitUntilAnsweringAsync(nodes[i], cancellationToken);
                HostLog.ClickHouseStarted(logger, Url(nodes[i]), servers[i].Folder);
            }

            var options = nodes.Select(node => Options(node, cluster)).ToArray();
            foreach (var node in options)
            {
                using var client = new ClickHouseClient(node);
                await client.ExecuteAsync($"CREATE DATABASE IF NOT EXISTS {Database}", cancellationToken);
            }
            return options;
        }
        finally
        {
            foreach (var fileLock in locks) await fileLock.DisposeAsync();
        }
    }

    private static string Url(State state) => $"http://127.0.0.1:{state.HttpPort}";

    private static ClickHouseOptions Options(State state, string? cluster) => new()
    {
        Url = Url(state),
        User = User,
        Password = state.Password,
        Database = Database,
        Cluster = cluster,
    };

    /// <summary>Whether the server of <paramref name="state"/> answers a query with its password (a /ping would answer for any server on that port).</summary>
    private static async Task<bool> AnswersAsync(State state, CancellationToken cancellationToken)
    {
        try
        {
            using var client = new ClickHouseClient(new ClickHouseOptions { Url = Url(state), User = User, Password = state.Password, TimeoutSeconds = 3 });
            return await client.QueryAsync("SELECT 1", cancellationToken) is [["1"]];
        }
        catch (ClickHouseException)
        {
            return false;
        }
    }

    /// <summary>The binary from BMM_CLICKHOUSE_SERVER, else clickhouse-server on the PATH or in /usr/sbin (Debian's place, often not on a user's PATH).</summary>
    private static string? FindServer()
    {
        var configured = Environment.GetEnvironmentVariable("BMM_CLICKHOUSE_SERVER");
        if (!string.IsNullOrEmpty(configured)) return File.Exists(configured) ? Path.GetFullPath(configured) : null;
        return (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/sbin").Append("/usr/bin")
            .Select(directory => Path.Combine(directory, "clickhouse-server"))
            .FirstOrDefault(File.Exists);
    }

    /// <summary>The folder holding the servers' folders: BMM_CLICKHOUSE_DIR, else the project's .bmm/ (beside the embedded PostgreSQL).</summary>
    private static string BaseDirectory()
    {
        var configured = Environment.GetEnvironmentVariable("BMM_CLICKHOUSE_DIR");
        if (!string.IsNullOrEmpty(configured)) return Path.GetFullPath(configured);
        return Path.Combine(LocalServerFiles.FindProjectRoot() ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share", "bmm"), ".bmm");
    }


    /// <summary>
    /// The port a server had, when nothing listens on it (a restarted server keeps its address and
    /// its cluster's configuration), else a free one; never one of <paramref name="taken"/>.
    /// </summary>
    private static async Task<int> KeepOrChoosePortAsync(int? previous, HashSet<int> taken, CancellationToken cancellationToken)
    {
        if (previous is { } port && !taken.Contains(port) && !await IsListeningAsync(port, cancellationToken))
        {
            taken.Add(port);
            return port;
        }
        while (true)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var free = ((IPEndPoint)listener.LocalEndpoint).Port;
            if (taken.Add(free)) return free;
        }
    }

    /// <summary>
    /// Whether something accepts connections on the port: a trial bind would also fail on the
    /// TIME_WAIT connections a stopped server leaves, which do not stop it from binding again.
    /// </summary>
    private static async Task<bool> IsListeningAsync(int port, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Loopback refuses at once; a connection that hangs is held by something.
            return true;
        }
    }


    /// <summary>One server's folder: its configuration, state, logs and data.</summary>
    private sealed class Server(string folder)
    {
        private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        private long _errorLogStart;
        private long _stderrStart;

        public string Folder { get; } = folder;
        public string LockFile => Path.Combine(Folder, "embedded.lock");
        private string StateFile => Path.Combine(Folder, "embedded.json");
        private string ConfigFile => Path.Combine(Folder, "config.xml");
        private string UsersFile => Path.Combine(Folder, "users.xml");
        private string ErrorLog => Path.Combine(Folder, "error.log");
        private string StderrLog => Path.Combine(Folder, "stderr.log");

        public void CreateFolder()
        {
            // The state file holds the password and config.xml the cluster's: the folder is the owner's alone.
            Directory.CreateDirectory(Folder);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(Folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        public State? ReadState()
        {
            try
            {
                return File.Exists(StateFile) ? JsonSerializer.Deserialize(File.ReadAllText(StateFile), EmbeddedClickHouseStateJson.Default.State) : null;
            }
            catch (JsonException)
            {
                return null;
            }
        }

        public void WriteState(State state) => WriteOwnerOnly(StateFile, JsonSerializer.Serialize(state, EmbeddedClickHouseStateJson.Default.State));

        /// <summary>config.xml and users.xml for <paramref name="state"/>, with a cluster of <paramref name="clusterNodes"/> when there are any; unchanged files are not rewritten (the server would reload them).</summary>
        public void WriteConfiguration(State state, IReadOnlyList<State> clusterNodes)
        {
            var config = new XElement("yandex",
                new XElement("logger",
                    new XElement("level", "warning"),
                    new XElement("log", Path.Combine(Folder, "server.log")),
                    new XElement("errorlog", ErrorLog),
                    new XElement("size", "100M"),
                    new XElement("count", 3)),
                new XElement("listen_host", "127.0.0.1"),
                new XElement("http_port", state.HttpPort),
                new XElement("tcp_port", state.TcpPort),
                // ClickHouse wants these with a trailing slash.
                new XElement("path", Path.Combine(Folder, "data") + "/"),
                new XElement("tmp_path", Path.Combine(Folder, "tmp") + "/"),
                new XElement("user_files_path", Path.Combine(Folder, "user_files") + "/"),
                new XElement("format_schema_path", Path.Combine(Folder, "format_schemas") + "/"),
                new XElement("users_config", UsersFile),
                // DateTime values read and written as text are UTC, whatever the machine's zone.
                new XElement("timezone", "UTC"),
                new XElement("mark_cache_size", 268435456),
                new XElement("uncompressed_cache_size", 268435456));
            if (clusterNodes.Count > 0)
            {
                config.Add(new XElement("remote_servers", new XElement(ClusterName, clusterNodes.Select(node =>
                    new XElement("shard", new XElement("replica",
                        new XElement("host", "127.0.0.1"),
                        new XElement("port", node.TcpPort),
                        new XElement("user", User),
                        new XElement("password", node.Password)))))));
            }

            // A quarter of the machine's memory per query (at least 2 GB); two threads per query,
            // as the server shares its cores with PostgreSQL and bmm.
            var maxMemory = Math.Max(2L << 30, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4);
            var users = new XElement("yandex",
                new XElement("profiles", new XElement("default",
                    new XElement("max_memory_usage", maxMemory),
                    new XElement("max_threads", 2),
                    new XElement("allow_experimental_low_cardinality_type", 1))),
                new XElement("quotas", new XElement("default", new XElement("interval",
                    new XElement("duration", 3600),
                    new XElement("queries", 0),
                    new XElement("errors", 0),
                    new XElement("result_rows", 0),
                    new XElement("read_rows", 0),
                    new XElement("execution_time", 0)))),
                new XElement("users", new XElement(User,
                    new XElement("password_sha256_hex", Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(state.Password))).ToLowerInvariant()),
                    new XElement("networks", new XElement("ip", "127.0.0.1"), new XElement("ip", "::1")),
                    new XElement("profile", "default"),
                    new XElement("quota", "default"))));

            WriteIfChanged(ConfigFile, config.ToString());
            WriteIfChanged(UsersFile, users.ToString());
        }

        /// <summary>Starts the server and returns its process id.</summary>
        public int Launch(string binary)
        {
            _errorLogStart = File.Exists(ErrorLog) ? new FileInfo(ErrorLog).Length : 0;
            _stderrStart = File.Exists(StderrLog) ? new FileInfo(StderrLog).Length : 0;
            // In the background of a shell that exits at once, in a session of its own: the server
            // outlives this process, holds none of its pipes, and a Ctrl-C at bmm's terminal does
            // not reach it. Not a group leader there, setsid execs without forking: $! is the server.
            var info = new ProcessStartInfo("/bin/sh", ["-c", "setsid \"$0\" --config-file=\"$1\" </dev/null >>\"$2\" 2>&1 & echo $!", binary, ConfigFile, StderrLog])
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = Folder,
            };
            using var shell = Process.Start(info) ?? throw new InvalidOperationException("Could not start /bin/sh.");
            shell.StandardInput.Close();
            var stderr = shell.StandardError.ReadToEndAsync();
            var output = shell.StandardOutput.ReadToEnd();
            shell.WaitForExit();
            if (shell.ExitCode != 0 || !int.TryParse(output.Trim(), out var pid))
                throw new UsageException($"The embedded ClickHouse in {Folder} could not be started: {(output + stderr.Result).Trim()}");
            return pid;
        }

        public async Task WaitUntilAnsweringAsync(State state, CancellationToken cancellationToken)
        {
            var elapsed = Stopwatch.StartNew();
            while (!await AnswersAsync(state, cancellationToken))
            {
                if (!IsAlive(state.Pid))
                    throw new UsageException($"The embedded ClickHouse in {Folder} exited while starting: {ErrorTail()}");
                if (elapsed.Elapsed > StartTimeout)
                    throw new UsageException($"The embedded ClickHouse in {Folder} did not answer within {StartTimeout.TotalSeconds:0} s: {ErrorTail()}");
                await Task.Delay(100, cancellationToken);
            }
        }

        /// <summary>Stops the server of this folder running as <paramref name="pid"/>, if it is; SIGTERM, then SIGKILL after 30 s.</summary>
        public async Task StopAsync(int pid, ILogger logger, CancellationToken cancellationToken)
        {
            if (!IsServer(pid)) return;
            // .NET signals other processes only with SIGKILL; SIGTERM lets the server shut down cleanly.
            var signal = new ProcessStartInfo("kill", ["-TERM", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using (var kill = Process.Start(signal) ?? throw new InvalidOperationException("Could not start kill."))
                await kill.WaitForExitAsync(cancellationToken);
            var elapsed = Stopwatch.StartNew();
            while (IsAlive(pid))
            {
                if (elapsed.Elapsed > StopTimeout)
                {
                    using var process = Process.GetProcessById(pid);
                    process.Kill();
                    break;
                }
                await Task.Delay(100, cancellationToken);
            }
            HostLog.ClickHouseStopped(logger, Folder, pid);
        }

        /// <summary>Whether <paramref name="pid"/> is a live clickhouse-server of this folder (not a process that took the id since).</summary>
        public bool IsServer(int pid)
        {
            if (!IsAlive(pid)) return false;
            try
            {
                var arguments = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
                return arguments.Contains($"--config-file={ConfigFile}");
            }
            catch (IOException)
            {
                return false;
            }
        }

        /// <summary>Whether the process exists and is not a zombie (its parent, init of a container, may not reap it).</summary>
        private static bool IsAlive(int pid)
        {
            if (pid <= 0) return false;
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var afterName = stat.LastIndexOf(')');
                return afterName > 0 && afterName + 2 < stat.Length && stat[afterName + 2] != 'Z';
            }
            catch (IOException)
            {
                return false;
            }
        }

        /// <summary>The last lines the server wrote to its error log (or stderr) since it was launched, as one sentence.</summary>
        private string ErrorTail()
        {
            foreach (var (file, start) in new[] { (ErrorLog, _errorLogStart), (StderrLog, _stderrStart) })
            {
                if (!File.Exists(file)) continue;
                using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                stream.Seek(Math.Min(start, stream.Length), SeekOrigin.Begin);
                var lines = new StreamReader(stream).ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                if (lines.Length == 0) continue;
                // "2024.01.01 00:00:00.000000 [ 1 ] {} <Error> Application: ..." says what after the level.
                var tail = lines.TakeLast(3).Select(line => line.IndexOf("> ", StringComparison.Ordinal) is var at and > 0 ? line[(at + 2)..] : line);
                return $"{string.Join(" / ", tail).TrimEnd('.')} (from {file}).";
            }
            return $"it wrote nothing to {ErrorLog} or {StderrLog}.";
        }

        private static void WriteIfChanged(string path, string text)
        {
            if (File.Exists(path) && File.ReadAllText(path) == text) return;
            WriteOwnerOnly(path, text);
        }

        private static void WriteOwnerOnly(string path, string text)
        {
            File.WriteAllText(path, text);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, OwnerOnly);
        }
    }

    /// <summary>A server's state file: its ports (kept across restarts), bmm's password, and its process.</summary>
    internal sealed record State(int HttpPort, int TcpPort, string Password, int Pid);
}

/// <summary>The embedded ClickHouse's state file, serialized by generated code (NativeAOT).</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(EmbeddedClickHouse.State))]
internal sealed partial class EmbeddedClickHouseStateJson : System.Text.Json.Serialization.JsonSerializerContext;
