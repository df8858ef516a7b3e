using Bmm.Refresh;
using Bmm.Tests.Infrastructure;
using CsCheck;
using Bmm.Strategies.Incremental;
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

    private static readonly Gen<SiteChange> Change =
        Gen.Select(
            Gen.Frequency(
                (3, Gen.Const(K.AddModel)), (1, Gen.Const(K.DeleteModel)), (2, Gen.Const(K.EditModel)),
                (5, Gen.Const(K.AddVersion)), (1, Gen.Const(K.DeleteVersion)), (3, Gen.Const(K.SetVersionStatus)),
                (2, Gen.Const(K.MoveVersion)), (6, Gen.Const(K.UpsertMetric)), (1, Gen.Const(K.DeleteMetric)),
                (6, Gen.Const(K.UpsertReview)), (2, Gen.Const(K.DeleteReview)), (1, Gen.Const(K.Enqueue)), (3, Gen.Const(K.Run)),
                (1, Gen.Const(K.MoveVersionToModel)), (2, Gen.Const(K.MoveReview)), (1, Gen.Const(K.BulkMetrics))),
            Gen.Int[1, SiteChange.Versions], Gen.Int[0, SiteChange.Users], Gen.Int[0, 9], Gen.Int[0, 3], Gen.Bool, Gen.Bool, Gen.Bool)
        .Select((kind, a, b, c, d, f1, f2, f3) => kind switch
        {
            // Models are fewer than versions so that versions share models.
            K.AddModel or K.DeleteModel or K.EditModel or K.Enqueue => new SiteChange(kind, 1 + a % SiteChange.Models, b, c, d, f1, f2, f3),
            K.AddVersion => new SiteChange(kind, a, 1 + b % SiteChange.Models, c, d, f1, f2, f3),
            K.UpsertReview or K.DeleteReview or K.MoveReview => new SiteChange(kind, a, 1 + b % SiteChange.Users, c, d, f1, f2, f3),
            K.MoveVersionToModel => new SiteChange(kind, a, 1 + b % SiteChange.Models, c, d, f1, f2, f3),
            _ => new SiteChange(kind, a, b, c, d, f1, f2, f3),
        });

    private async Task ReplayAsync(IReadOnlyList<SiteChange> changes)
    {
        var ct = TestContext.Current.CancellationToken;
        await _db.ExecuteAsync("""
            TRUNCATE "Model", "ModelVersion", "ModelVersionMetric", "ResourceReview", "ModelBaseModelMetric", bmm.model_queue, bmm.change_log;
            UPDATE bmm.consumer SET xid = pg_snapshot_xmin(pg_current_snapshot())::text::bigint - 1, model_id = 2147483647;
            """);
        // Every sequence starts from the same small population, so that most changes hit something.
        await _db.ExecuteAsync(InitialPopulation);
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

    private const string InitialPopulation = """
        INSERT INTO "Model" ("id", "name", "userId", "status")
        SELECT m, 'm', 1, 'Published' FROM generate_series(1, 6) m;
        INSERT INTO "ModelVersion" ("id", "modelId", "name", "baseModel", "status")
        SELECT v, 1 + v % 6, 'v', (ARRAY['SDXL 1.0', 'Pony', 'O''Brien "XL" ü'])[1 + v % 3],
               CASE WHEN v % 5 = 0 THEN 'Draft' ELSE 'Published' END::"ModelStatus"
        FROM generate_series(1, 12) v;
        INSERT INTO "ModelVersionMetric" ("modelVersionId", "downloadCount", "imageCount")
        SELECT v, v * 10, v FROM generate_series(1, 10) v;
        INSERT INTO "ResourceReview" ("id", "modelId", "modelVersionId", "userId", "rating", "recommended", "exclude", "tosViolation")
        SELECT v * 100 + u, 1 + v % 6, v, u, 5, (v + u) % 4 <> 0, (v + u) % 7 = 0, (v * u) % 11 = 0
        FROM generate_series(1, 12) v, generate_series(1, 4) u WHERE (v + u) % 3 <> 0;
        """;

    /// <summary>
    /// A run drawn with <paramref name="c"/> of 6 or more reads the log in slices and steps of 1 to
    /// 4 rows, cut inside transactions and models (the ordered read); otherwise a run takes
    /// everything below the horizon at once (the unordered read).
    /// </summary>
    private void ReadInSteps(int c)
    {
        var rows = c >= 6 ? c - 5 : DefaultSliceRows;
        _db.Options.ScanSize = rows;
        _db.Options.IncrementalBatchRows = rows;
    }

    private const int DefaultSliceRows = 100_000;

    private async Task RunAndCheckAsync(string step)
    {
        var report = await _db.RunAsync(strategy);
        Assert.True(report.Outcome == RunOutcome.Succeeded, $"{step}: {report.Outcome} {report.Error}");
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
        await Change.Array[1, 40].SampleAsync(
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
        await IncrementalState.BootstrapAsync(Database.DataSource, TestContext.Current.CancellationToken);
    }

    protected override Task CheckStateAsync(string step) => Database.AssertIncrementalStateMatchesAsync(step);
}
