using Bmm.Tests.Infrastructure;
using CsCheck;
using Npgsql;

namespace Bmm.Tests.Invariant;

/// <summary>
/// One change a site writer can make, over a small universe of models, versions and users so
/// that generated sequences collide often. Every change is a no-op when what it refers to does
/// not exist, so any sequence is valid. <see cref="ToString"/> prints C# that replays it.
/// </summary>
public sealed record SiteChange(SiteChange.Kinds Kind, int A, int B, int C, int D, bool Flag1, bool Flag2, bool Flag3)
{
    public enum Kinds { AddModel, DeleteModel, EditModel, AddVersion, DeleteVersion, SetVersionStatus, MoveVersion, UpsertMetric, DeleteMetric, UpsertReview, DeleteReview, Enqueue, Run, MoveVersionToModel, MoveReview, BulkMetrics }

    public static readonly string[] BaseModels = ["SDXL 1.0", "Pony", "O'Brien \"XL\" ü"];
    public static readonly string[] Statuses = ["Published", "Draft", "Unpublished", "Published"];

    public const int Models = 6;
    public const int Versions = 14;
    public const int Users = 5;

    /// <summary>Any change, runs and queued ids included, drawn so that changes collide.</summary>
    public static readonly Gen<SiteChange> Generator =
        Gen.Select(
            Gen.Frequency(
                (3, Gen.Const(Kinds.AddModel)), (1, Gen.Const(Kinds.DeleteModel)), (2, Gen.Const(Kinds.EditModel)),
                (5, Gen.Const(Kinds.AddVersion)), (1, Gen.Const(Kinds.DeleteVersion)), (3, Gen.Const(Kinds.SetVersionStatus)),
                (2, Gen.Const(Kinds.MoveVersion)), (6, Gen.Const(Kinds.UpsertMetric)), (1, Gen.Const(Kinds.DeleteMetric)),
                (6, Gen.Const(Kinds.UpsertReview)), (2, Gen.Const(Kinds.DeleteReview)), (1, Gen.Const(Kinds.Enqueue)), (3, Gen.Const(Kinds.Run)),
                (1, Gen.Const(Kinds.MoveVersionToModel)), (2, Gen.Const(Kinds.MoveReview)), (1, Gen.Const(Kinds.BulkMetrics))),
            Gen.Int[1, SiteChange.Versions], Gen.Int[0, SiteChange.Users], Gen.Int[0, 9], Gen.Int[0, 3], Gen.Bool, Gen.Bool, Gen.Bool)
        .Select((kind, a, b, c, d, f1, f2, f3) => kind switch
        {
            // Models are fewer than versions so that versions share models.
            Kinds.AddModel or Kinds.DeleteModel or Kinds.EditModel or Kinds.Enqueue => new SiteChange(kind, 1 + a % SiteChange.Models, b, c, d, f1, f2, f3),
            Kinds.AddVersion => new SiteChange(kind, a, 1 + b % SiteChange.Models, c, d, f1, f2, f3),
            Kinds.UpsertReview or Kinds.DeleteReview or Kinds.MoveReview => new SiteChange(kind, a, 1 + b % SiteChange.Users, c, d, f1, f2, f3),
            Kinds.MoveVersionToModel => new SiteChange(kind, a, 1 + b % SiteChange.Models, c, d, f1, f2, f3),
            _ => new SiteChange(kind, a, b, c, d, f1, f2, f3),
        });

    /// <summary>
    /// Empties the site and the job's log and queue, positions every recomputing consumer at the
    /// horizon, and writes the same small population, so that most changes hit something.
    /// </summary>
    public static async Task ResetAsync(TestDatabase db)
    {
        await db.ExecuteAsync("""
            TRUNCATE "Model", "ModelVersion", "ModelVersionMetric", "ResourceReview", "ModelBaseModelMetric", bmm.model_queue, bmm.change_log, bmm.clickhouse_pending, bmm.sweep_plan;
            UPDATE bmm.consumer SET xid = pg_snapshot_xmin(pg_current_snapshot())::text::bigint - 1, kind = '~', row_id = 2147483647,
                sweep_end = NULL, sweep_model = NULL;
            """);
        await db.ExecuteAsync(Population);
    }

    private const string Population = """
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

    public override string ToString() => $"new SiteChange(SiteChange.Kinds.{Kind}, {A}, {B}, {C}, {D}, {Flag1.ToString().ToLowerInvariant()}, {Flag2.ToString().ToLowerInvariant()}, {Flag3.ToString().ToLowerInvariant()})";

    public async Task ApplyAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await ApplyAsync(connection, null, cancellationToken);
    }

    /// <summary>Applies the change on <paramref name="connection"/>, inside <paramref name="transaction"/> when given.</summary>
    public async Task ApplyAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(Sql, connection, transaction);
        command.Parameters.AddWithValue("a", A);
        command.Parameters.AddWithValue("b", Kind == Kinds.UpsertMetric && B == 0 ? int.MaxValue - C : B);
        command.Parameters.AddWithValue("c", C);
        command.Parameters.AddWithValue("status", Statuses[(Kind is Kinds.AddVersion ? D : B) % Statuses.Length]);
        command.Parameters.AddWithValue("base", BaseModels[(Kind is Kinds.AddVersion ? C : B) % BaseModels.Length]);
        command.Parameters.AddWithValue("f1", Flag1);
        command.Parameters.AddWithValue("f2", Flag2);
        command.Parameters.AddWithValue("f3", Flag3);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Each change is one statement; Npgsql sends only the parameters a statement names.</summary>
    private string Sql => Kind switch
    {
        Kinds.AddModel => """
            INSERT INTO "Model" ("id", "name", "userId", "status", "nsfwLevel")
            SELECT @a, 'm', 1, @status::"ModelStatus", @c
            ON CONFLICT DO NOTHING
            """,
        Kinds.DeleteModel => """DELETE FROM "Model" WHERE "id" = @a""",
        Kinds.EditModel => """
            UPDATE "Model" SET "status" = @status::"ModelStatus", "nsfwLevel" = @c, "poi" = @f1, "minor" = @f2,
                "mode" = CASE WHEN @f3 THEN 'Archived'::"ModelModifier" END
            WHERE "id" = @a
            """,
        Kinds.AddVersion => """
            INSERT INTO "ModelVersion" ("id", "modelId", "name", "baseModel", "status")
            SELECT @a, @b, 'v', @base, @status::"ModelStatus" WHERE EXISTS (SELECT 1 FROM "Model" WHERE "id" = @b)
            ON CONFLICT DO NOTHING
            """,
        Kinds.DeleteVersion => """DELETE FROM "ModelVersion" WHERE "id" = @a""",
        Kinds.SetVersionStatus => """UPDATE "ModelVersion" SET "status" = @status::"ModelStatus" WHERE "id" = @a""",
        Kinds.MoveVersion => """UPDATE "ModelVersion" SET "baseModel" = @base WHERE "id" = @a""",
        Kinds.UpsertMetric => """
            INSERT INTO "ModelVersionMetric" ("modelVersionId", "downloadCount", "imageCount")
            SELECT @a, @b, @c WHERE EXISTS (SELECT 1 FROM "ModelVersion" WHERE "id" = @a)
            ON CONFLICT ("modelVersionId") DO UPDATE SET "downloadCount" = excluded."downloadCount", "imageCount" = excluded."imageCount"
            """,
        Kinds.DeleteMetric => """DELETE FROM "ModelVersionMetric" WHERE "modelVersionId" = @a""",
        // A user's review of a version is updated in place, else inserted with a fresh id (reviews move
        // between versions keeping theirs, so an id derived from the version could collide).
        Kinds.UpsertReview => """
            WITH updated AS (
                UPDATE "ResourceReview" SET "recommended" = @f1, "exclude" = @f2, "tosViolation" = @f3
                WHERE "modelVersionId" = @a AND "userId" = @b
                RETURNING 1
            )
            INSERT INTO "ResourceReview" ("id", "modelId", "modelVersionId", "userId", "rating", "recommended", "exclude", "tosViolation")
            SELECT (SELECT coalesce(max("id"), 0) + 1 FROM "ResourceReview"), v."modelId", @a, @b, @c, @f1, @f2, @f3
            FROM "ModelVersion" v WHERE v."id" = @a AND NOT EXISTS (SELECT 1 FROM updated)
            """,
        Kinds.DeleteReview => """DELETE FROM "ResourceReview" WHERE "modelVersionId" = @a AND "userId" = @b""",
        Kinds.Enqueue => """INSERT INTO bmm.model_queue (model_id) VALUES (@a) ON CONFLICT DO NOTHING""",
        Kinds.MoveVersionToModel => """
            UPDATE "ModelVersion" SET "modelId" = @b WHERE "id" = @a AND EXISTS (SELECT 1 FROM "Model" WHERE "id" = @b)
            """,
        Kinds.MoveReview => """
            UPDATE "ResourceReview" r SET "modelVersionId" = @c + 1
            WHERE r."modelVersionId" = @a AND r."userId" = @b AND EXISTS (SELECT 1 FROM "ModelVersion" WHERE "id" = @c + 1)
              AND NOT EXISTS (SELECT 1 FROM "ResourceReview" x WHERE x."modelVersionId" = @c + 1 AND x."userId" = @b)
            """,
        Kinds.BulkMetrics => """
            UPDATE "ModelVersionMetric" SET "downloadCount" = "downloadCount" + @c, "imageCount" = "imageCount" + 1
            WHERE "modelVersionId" % 3 = @a % 3 AND "downloadCount" < 2000000000
            """,
        _ => throw new InvalidOperationException($"{Kind} is not a site write."),
    };
}
