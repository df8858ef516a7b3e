using Bmm.Database;
using Bmm.Refresh;
using Bmm.Strategies.Incremental;
using Bmm.Tests.Infrastructure;
using CsCheck;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using K = Bmm.Tests.Invariant.SiteChange.Kinds;

namespace Bmm.Tests.Invariant;

/// <summary>
/// The invariant under interleaved transactions, generated: three writers each keep a
/// transaction open across several changes (every kind, versions moved between models and base
/// models included), commit or roll back, and runs of the strategy land between those commits,
/// running concurrently with the writers where a writer's lock holds them. Once every writer has
/// finished and the backlog is drained, the table equals a recomputation from scratch (and the
/// incremental state too).
/// </summary>
public abstract class ConcurrentInvariantTests(string strategy) : IAsyncLifetime
{
    private const int Writers = 3;
    private TestDatabase _db = null!;

    protected TestDatabase Database => _db;

    public virtual async ValueTask InitializeAsync()
    {
        _db = await TestDatabase.CreateAsync(TestContext.Current.CancellationToken);
        // A run that a writer's lock holds gives up soon; the drain at the end redoes it.
        _db.Options.LockTimeoutSeconds = 1;
        _db.Options.MaxAttempts = 2;
    }

    public ValueTask DisposeAsync() => _db.DisposeAsync();

    public enum Action { Write, Commit, Rollback, Run }

    /// <summary>One step of the interleaving; <see cref="ToString"/> prints C# that replays it.</summary>
    public sealed record Step(Action Action, int Writer, SiteChange? Change)
    {
        public override string ToString() => $"new Step(Action.{Action}, {Writer}, {Change?.ToString() ?? "null"})";
    }

    private static readonly Gen<Step> Steps = Gen.Frequency(
        (10, Gen.Select(Gen.Int[0, Writers - 1], SiteChange.Generator.Where(c => c.Kind is not (K.Run or K.Enqueue)), (w, c) => new Step(Action.Write, w, c))),
        (3, Gen.Int[0, Writers - 1].Select(w => new Step(Action.Commit, w, null))),
        (1, Gen.Int[0, Writers - 1].Select(w => new Step(Action.Rollback, w, null))),
        (3, Gen.Const(new Step(Action.Run, 0, null))));

    /// <summary>How long a run may take before the steps go on beside it (a writer's lock may hold it).</summary>
    private static readonly TimeSpan RunHead = TimeSpan.FromMilliseconds(300);

    private async Task ReplayAsync(IReadOnlyList<Step> steps)
    {
        var ct = TestContext.Current.CancellationToken;
        await SiteChange.ResetAsync(_db);
        await AfterPopulationAsync();
        var connections = new NpgsqlConnection[Writers];
        var transactions = new NpgsqlTransaction?[Writers];
        Task<RunReport>? run = null;
        try
        {
            for (var w = 0; w < Writers; w++) connections[w] = await _db.DataSource.OpenConnectionAsync(ct);
            foreach (var step in steps)
            {
                var w = step.Writer;
                switch (step.Action)
                {
                    case Action.Write:
                        if (transactions[w] is null)
                        {
                            transactions[w] = await connections[w].BeginTransactionAsync(ct);
                            await using var timeout = new NpgsqlCommand("SET LOCAL lock_timeout = '50ms'", connections[w], transactions[w]);
                            await timeout.ExecuteNonQueryAsync(ct);
                        }
                        try
                        {
                            await step.Change!.ApplyAsync(connections[w], transactions[w], ct);
                        }
                        catch (PostgresException)
                        {
                            // Blocked by another writer or the run, or a key another writer took: this writer gives up.
                            await transactions[w]!.RollbackAsync(ct);
                            transactions[w] = null;
                        }
                        break;
                    case Action.Commit or Action.Rollback when transactions[w] is { } open:
                        if (step.Action == Action.Commit) await open.CommitAsync(ct);
                        else await open.RollbackAsync(ct);
                        await open.DisposeAsync();
                        transactions[w] = null;
                        break;
                    case Action.Run:
                        if (run is not null) AssertRunEnded(await run);
                        run = _db.RunAsync(strategy);
                        // Nothing committed while a run that ended within its head ran.
                        if (await Task.WhenAny(run, Task.Delay(RunHead, ct)) == run && AppliesEverythingCommitted && (await run).Outcome == RunOutcome.Succeeded)
                            await _db.AssertMatchesOracleAsync("after a run beside open writers");
                        break;
                }
            }
            for (var w = 0; w < Writers; w++)
            {
                if (transactions[w] is not { } open) continue;
                await open.CommitAsync(ct);
                transactions[w] = null;
            }
            if (run is not null) AssertRunEnded(await run);
        }
        finally
        {
            foreach (var open in transactions) if (open is not null) await open.DisposeAsync();
            foreach (var connection in connections) if (connection is not null) await connection.DisposeAsync();
        }

        for (var drain = 1; ; drain++)
        {
            var report = await _db.RunAsync(strategy);
            Assert.True(report.Outcome == RunOutcome.Succeeded, $"drain run {drain}: {report.Outcome} {report.Error}");
            if (!report.Result!.BacklogLeft) break;
        }
        await _db.AssertMatchesOracleAsync("after every writer finished");
        await CheckStateAsync("after every writer finished");
    }

    /// <summary>A run beside open writers succeeds, or gives up on a lock they hold (it rolled back, and the drain redoes it).</summary>
    private static void AssertRunEnded(RunReport report) =>
        Assert.True(report.Outcome == RunOutcome.Succeeded || report.Error is PostgresException e && Transactions.IsRolledBack(e),
            $"A run beside the writers failed: {report.Outcome} {report.Error}");

    protected virtual Task AfterPopulationAsync() => Task.CompletedTask;

    /// <summary>
    /// Whether a run applies everything committed when it starts, however old the transactions
    /// still open: the table then equals the oracle after every run, not only at the end.
    /// </summary>
    protected virtual bool AppliesEverythingCommitted => false;

    protected virtual Task CheckStateAsync(string step) => Task.CompletedTask;

    [Fact]
    public async Task After_any_interleaving_of_open_transactions_and_runs_the_table_equals_the_oracle()
    {
        await Steps.Array[1, 40].SampleAsync(
            steps => ReplayAsync(steps),
            iter: 25, threads: 1,
            print: steps => "[\n" + string.Join(",\n", steps.Select(s => "    " + s)) + "\n]");
    }
}

public sealed class SetBasedConcurrentInvariantTests() : ConcurrentInvariantTests("setbased");

public sealed class IncrementalConcurrentInvariantTests() : ConcurrentInvariantTests("incremental")
{
    protected override async Task AfterPopulationAsync()
    {
        await Database.ExecuteAsync("DELETE FROM bmm.consumer WHERE name = 'incremental'");
        await IncrementalState.BootstrapAsync(Database.DataSource, new Transactions(Database.DataSource, Database.Options, NullLogger.Instance), TestContext.Current.CancellationToken);
    }

    protected override Task CheckStateAsync(string step) => Database.AssertIncrementalStateMatchesAsync(step);

    /// <summary>Commits behind an open writer are applied at once; a step holds all of them (the default step of 120 rows may not).</summary>
    protected override bool AppliesEverythingCommitted => true;

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        Database.Options.IncrementalBatchRows = 100_000;
    }
}
