using Bmm.Refresh;
using Bmm.Strategies.Incremental;
using Bmm.Tests.Infrastructure;
using CsCheck;
using K = Bmm.Tests.Invariant.SiteChange.Kinds;

namespace Bmm.Tests.Invariant;

/// <summary>
/// The invariant, generated: after any sequence of site changes interleaved with runs of the
/// strategy, the table equals a recomputation from scratch after every run. CsCheck shrinks a
/// failure to a minimal sequence, printed as C# to keep as a named test below.
/// </summary>
public abstract class RefreshInvariantTests(string strategy) : IAsyncLifetime
{
    private TestDatabase _db = null!;

    protected TestDatabase Database => _db;

    public async ValueTask InitializeAsync() => _db = await TestDatabase.CreateAsync(TestContext.Current.CancellationToken);

    public ValueTask DisposeAsync() => _db.DisposeAsync();

    private async Task ReplayAsync(IReadOnlyList<SiteChange> changes)
    {
        var ct = TestContext.Current.CancellationToken;
        await SiteChange.ResetAsync(_db);
        await AfterPopulationAsync();
        for (var i = 0; i < changes.Count; i++)
        {
            if (changes[i].Kind == K.Run)
            {
                ReadInSteps(changes[i].C);
                await RunAndCheckAsync($"after change {i}");
            }
            else await changes[i].ApplyAsync(_db.DataSource, ct);
        }
        ReadInSteps(0);
        await RunAndCheckAsync("at the end");
    }

    /// <summary>
    /// A run drawn with <paramref name="c"/> of 6 or more works in batches and steps of 1 to 4
    /// models or log rows, cut inside transactions, and stops at a budget of a model more, so that
    /// a sweep or a backlog spans runs; otherwise a run takes everything below the horizon at once.
    /// </summary>
    private void ReadInSteps(int c)
    {
        var small = c >= 6 ? c - 5 : 0;
        _db.Options.BatchSize = small > 0 ? small : 50;
        _db.Options.IncrementalBatchRows = small > 0 ? small : 100_000;
        _db.Options.MaxModelsPerRun = small > 0 ? small + 1 : 200_000;
        if (_db.ClickHouse is { } mirror) mirror.Client.Options.BatchRows = small > 0 ? small : 50_000;
    }

    /// <summary>Runs until the backlog is drained (a run may stop at its budget), then checks.</summary>
    private async Task RunAndCheckAsync(string step)
    {
        for (var run = 1; ; run++)
        {
            var report = await _db.RunAsync(strategy);
            Assert.True(report.Outcome == RunOutcome.Succeeded, $"{step}, run {run}: {report.Outcome} {report.Error}");
            if (!report.Result!.BacklogLeft) break;
            Assert.True(run < 500, $"{step}: the backlog did not drain.");
        }
        await _db.AssertMatchesOracleAsync(step);
        await CheckStateAsync(step);
    }

    /// <summary>Called once the initial population is in place, before the first change.</summary>
    protected virtual Task AfterPopulationAsync() => Task.CompletedTask;

    /// <summary>Checks the strategy's own state, where it keeps one.</summary>
    protected virtual Task CheckStateAsync(string step) => Task.CompletedTask;

    [Fact]
    public async Task After_any_sequence_of_changes_the_table_equals_the_oracle()
    {
        await SiteChange.Generator.Array[1, 40].SampleAsync(
            changes => ReplayAsync(changes),
            iter: 60, threads: 1,
            print: changes => "[\n" + string.Join(",\n", changes.Select(c => "    " + c)) + "\n]");
    }

    [Fact]
    public async Task Replay_of_a_version_published_moved_and_unpublished_in_one_window()
    {
        await ReplayAsync([
            new SiteChange(K.AddModel, 1, 0, 2, 0, false, false, false),
            new SiteChange(K.AddVersion, 3, 1, 0, 0, false, false, false),
            new SiteChange(K.AddVersion, 4, 1, 0, 0, false, false, false),
            new SiteChange(K.UpsertReview, 3, 2, 5, 0, true, false, false),
            new SiteChange(K.UpsertReview, 4, 2, 5, 0, true, false, false),
            new SiteChange(K.UpsertMetric, 3, 0, 7, 0, false, false, false),
            new SiteChange(K.UpsertMetric, 4, 9, 7, 0, false, false, false),
            new SiteChange(K.Run, 0, 0, 0, 0, false, false, false),
            new SiteChange(K.MoveVersion, 3, 1, 0, 0, false, false, false),
            new SiteChange(K.SetVersionStatus, 4, 1, 0, 0, false, false, false),
            new SiteChange(K.EditModel, 1, 2, 4, 0, true, false, true),
        ]);
    }
}

public sealed class SetBasedInvariantTests() : RefreshInvariantTests("setbased");

/// <summary>
/// The same invariant for the incremental strategy, built from a snapshot of the initial
/// population so that every later change arrives as a delta; after each run its internal state
/// (applied versions and reviews, multiplicities, unclamped pairs) must also equal a
/// recomputation (reconcile_check over every model finds nothing).
/// </summary>
public sealed class IncrementalInvariantTests() : RefreshInvariantTests("incremental")
{
    protected override async Task AfterPopulationAsync()
    {
        await Database.ExecuteAsync("DELETE FROM bmm.consumer WHERE name = 'incremental'");
        await IncrementalState.BootstrapAsync(Database.DataSource, new Bmm.Database.Transactions(Database.DataSource, Database.Options, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance), TestContext.Current.CancellationToken);
    }

    protected override Task CheckStateAsync(string step) => Database.AssertIncrementalStateMatchesAsync(step);
}
