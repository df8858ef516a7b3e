using Bmm.Cli;
using Bmm.Tests.Infrastructure;

namespace Bmm.Tests.Hardening;

/// <summary>
/// Connection strings, settings and flags an operator gets wrong: each is exit 2 with one
/// sentence naming what is wrong, no stack trace, and nothing written.
/// </summary>
public sealed class BadSettingsTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    [Theory]
    [InlineData("Host=127.0.0.1;Port=99999;Database=site", "Port 99999 is not a TCP port")]
    [InlineData("Host=;Database=site", "Host is missing or empty")]
    [InlineData("Host=127.0.0.1;Database=site;Minimum Pool Size=50;Maximum Pool Size=5", "Minimum Pool Size (50) is above Maximum Pool Size (30)")]
    [InlineData("Host=127.0.0.1;Database=site;Timeout=-1", "connection string is malformed")]
    public async Task A_bad_connection_string_is_one_sentence_and_exit_2(string connection, string expected)
    {
        var result = await BmmProcess.RunAsync(connection, "status");
        AssertRefused(result, expected);
    }

    public static TheoryData<string, string, string[]> BadSettings => new()
    {
        { "BMM_Follow__PollSeconds=NaN", "Follow:PollSeconds must be a positive number", ["follow"] },
        { "BMM_Job__StatementTimeoutSeconds=3000000", "at most 2147483 seconds", ["run"] },
        { "BMM_Job__LockTimeoutSeconds=0", "at least 1 second", ["run"] },
        { "BMM_Job__ReconcilePassHours=NaN", "Job:ReconcilePassHours must be a positive number", ["run"] },
        { "BMM_Job__IncrementalRebuildRows=-1", "Job:IncrementalRebuildRows must be 0 (never) or more", ["run", "--strategy", "incremental"] },
        { "BMM_Job__BatchSise=10", "BatchSise", ["run"] },
        { "BMM_Logging__LogLevel__Default=Loud", "not a log level", ["run"] },
        { "BMM_Serve__Schedule=every five minutes", "Serve:Schedule", ["serve"] },
        { "BMM_Serve__MetricsUrl=ftp://somewhere/", "Serve:MetricsUrl", ["serve"] },
        { "", "--clock 'garbage' is not an instant", ["run", "--clock", "garbage"] },
        { "BMM_ClickHouse__Url=ftp://ch:8123", "ClickHouse:Url 'ftp://ch:8123' is not", ["run", "--strategy", "clickhouse"] },
        { "BMM_ClickHouse__Url=http://bmm:secret@ch:8123", "credentials go in ClickHouse:User", ["clickhouse", "load"] },
        { "BMM_ClickHouse__Database=bmm; DROP TABLE x", "ClickHouse:Database", ["run", "--strategy", "clickhouse"] },
        { "BMM_ClickHouse__Cluster=two shards", "ClickHouse:Cluster", ["clickhouse", "load"] },
        { "BMM_ClickHouse__BatchRows=0", "ClickHouse:BatchRows must be at least 1", ["run", "--strategy", "clickhouse"] },
        { "BMM_ClickHouse__Hots=ch1", "Hots", ["run", "--strategy", "clickhouse"] },
        // A value that starts with @ is a value (Cronos has @hourly), not a response file to read.
        { "", "Serve:Schedule", ["serve", "--schedule", "@fortnightly"] },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public async Task A_bad_setting_or_flag_is_one_sentence_and_exit_2_before_anything_is_written(string setting, string expected, string[] arguments)
    {
        var before = await db.ScalarAsync<string>(Fingerprint);
        var environment = new Dictionary<string, string>();
        if (setting != "") environment[setting[..setting.IndexOf('=')]] = setting[(setting.IndexOf('=') + 1)..];
        var result = await BmmProcess.RunAsync(db.ConnectionString, environment, null, arguments);
        AssertRefused(result, expected);
        Assert.Equal(before, await db.ScalarAsync<string>(Fingerprint));
    }

    /// <summary>What a command that started work would change: runs, positions, the incremental state.</summary>
    private const string Fingerprint = """
        SELECT (SELECT count(*) FROM bmm.run_history) || ' runs, ' || (SELECT count(*) FROM bmm.consumer) || ' consumers, '
            || (SELECT count(*) FROM bmm.inc_version) || ' versions, ' || (SELECT count(*) FROM bmm.inc_bootstrap) || ' bootstraps'
        """;

    private static void AssertRefused(BmmProcess.Result result, string expected)
    {
        Assert.True(result.ExitCode == ExitCodes.Usage, result.ToString());
        Assert.Contains(expected, result.Error);
        Assert.DoesNotContain("   at ", result.Error);
        Assert.DoesNotContain("Unhandled exception", result.Error);
    }
}
