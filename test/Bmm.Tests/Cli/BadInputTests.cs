using Bmm.Cli;
using Bmm.Tests.Infrastructure;
using Npgsql;

namespace Bmm.Tests.Cli;

/// <summary>Bad input gets one clear sentence and exit code 2, and changes nothing.</summary>
public sealed class BadInputTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    [Fact]
    public async Task An_unknown_strategy_is_refused()
    {
        var result = await BmmProcess.RunAsync(db.ConnectionString, "run", "--strategy", "fastest");
        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains("Unknown strategy 'fastest'", result.Error);
        Assert.Contains("setbased", result.Error);
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM bmm.run_history"));
    }

    [Fact]
    public async Task Dropping_an_unknown_consumer_is_refused_and_a_known_one_is_removed()
    {
        var unknown = await BmmProcess.RunAsync(db.ConnectionString, "drop-consumer", "nightly");
        Assert.Equal(ExitCodes.Usage, unknown.ExitCode);
        Assert.Contains("There is no change-log consumer named 'nightly'", unknown.Error);
        await db.ExecuteAsync("INSERT INTO bmm.consumer (name, xid, kind, row_id) VALUES ('reviews-mv', 1, '~', 0) ON CONFLICT DO NOTHING");
        var dropped = await BmmProcess.RunAsync(db.ConnectionString, "drop-consumer", "reviews-mv");
        Assert.True(dropped.ExitCode == ExitCodes.Success, dropped.ToString());
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM bmm.consumer WHERE name = 'reviews-mv'"));
    }

    [Fact]
    public async Task An_unknown_strategy_in_the_environment_is_refused()
    {
        var result = await BmmProcess.RunAsync(db.ConnectionString, new Dictionary<string, string> { ["BMM_Job__Strategy"] = "nope" }, null, "run");
        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains("Unknown strategy 'nope'", result.Error);
    }

    [Fact]
    public async Task An_unreachable_database_is_named_without_the_password()
    {
        var result = await BmmProcess.RunAsync("Host=127.0.0.1;Port=1;Database=site;Username=job;Password=hunter2-secret;Timeout=2", "status");
        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.StartsWith("Cannot connect to database \"site\" on 127.0.0.1:1 as \"job\"", result.Error);
        Assert.DoesNotContain("hunter2-secret", result.Output + result.Error);
    }

    [Fact]
    public async Task A_wrong_password_is_refused_without_echoing_it()
    {
        var wrong = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Password = "not-the-password-42" }.ConnectionString;
        var result = await BmmProcess.RunAsync(wrong, "run");
        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains("password authentication failed", result.Error);
        Assert.DoesNotContain("not-the-password-42", result.Output + result.Error);
    }

    [Fact]
    public async Task A_malformed_connection_string_is_refused()
    {
        var result = await BmmProcess.RunAsync("Hots=nowhere", "status");
        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains("connection string is malformed", result.Error);
    }

    [Fact]
    public async Task A_non_numeric_id_queues_nothing()
    {
        var result = await BmmProcess.RunAsync(db.ConnectionString, "enqueue", "12", "abc", "14");
        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains("'abc' is not a model id", result.Error);
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM bmm.model_queue"));
    }

    [Fact]
    public async Task Ids_are_read_from_standard_input()
    {
        var ids = string.Join("\n", Enumerable.Range(1_000_000, 5_000));
        var result = await BmmProcess.RunAsync(db.ConnectionString, environment: null, input: ids, "enqueue");
        Assert.True(result.ExitCode == ExitCodes.Success, result.ToString());
        Assert.Equal(5_000L, await db.ScalarAsync<long>("SELECT count(*) FROM bmm.model_queue WHERE model_id >= 1000000"));
        await db.ExecuteAsync("DELETE FROM bmm.model_queue");
    }

    [Fact]
    public async Task An_unknown_option_is_bad_usage()
    {
        var result = await BmmProcess.RunAsync(db.ConnectionString, "run", "--fast");
        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains("--fast", result.Error);
    }

    [Theory]
    [InlineData("migrate")]
    [InlineData("run")]
    [InlineData("verify")]
    [InlineData("status")]
    [InlineData("enqueue")]
    [InlineData("pause")]
    [InlineData("resume")]
    public async Task Every_command_has_help(string command)
    {
        var result = await BmmProcess.RunAsync(null, command, "--help");
        Assert.Equal(ExitCodes.Success, result.ExitCode);
        Assert.Contains("--connection", result.Output);
    }

    [Fact]
    public async Task A_database_without_the_site_tables_is_named()
    {
        var ct = TestContext.Current.CancellationToken;
        var name = "bmm_empty_" + Guid.NewGuid().ToString("N")[..8];
        await using var admin = NpgsqlDataSource.Create(await TestServer.AdminConnectionStringAsync(ct));
        await TestServer.ExecuteAsync(admin, $"CREATE DATABASE {name}", ct);
        try
        {
            var empty = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Database = name }.ConnectionString;
            var result = await BmmProcess.RunAsync(empty, "run");
            Assert.Equal(ExitCodes.Usage, result.ExitCode);
            Assert.Contains("\"ModelVersion\"", result.Error);
            Assert.Contains("migrate --with-site-schema", result.Error);
            var migrate = await BmmProcess.RunAsync(empty, "migrate");
            Assert.Equal(ExitCodes.Usage, migrate.ExitCode);
            await using var check = NpgsqlDataSource.Create(empty);
            await using var command = check.CreateCommand("SELECT to_regnamespace('bmm') IS NULL");
            Assert.Equal(true, await command.ExecuteScalarAsync(ct));
        }
        finally
        {
            await TestServer.ExecuteAsync(admin, $"DROP DATABASE {name} WITH (FORCE)", ct);
        }
    }
}
