using Npgsql;

namespace Bmm.Tests.Infrastructure;

/// <summary>Writes to the site's tables the way the site does, one statement per call.</summary>
public sealed class Site(NpgsqlDataSource dataSource)
{
    public Task Model(int id, string status = "Published", int userId = 1, string availability = "Public", int nsfwLevel = 1) =>
        Execute("""INSERT INTO "Model" ("id", "name", "userId", "status", "availability", "nsfwLevel") VALUES (@id, 'model ' || @id, @user, @status::"ModelStatus", @availability::"Availability", @nsfw)""",
            ("id", id), ("user", userId), ("status", status), ("availability", availability), ("nsfw", nsfwLevel));

    public Task Version(int id, int modelId, string baseModel, string status = "Published") =>
        Execute("""INSERT INTO "ModelVersion" ("id", "modelId", "name", "baseModel", "status") VALUES (@id, @model, 'v' || @id, @base, @status::"ModelStatus")""",
            ("id", id), ("model", modelId), ("base", baseModel), ("status", status));

    public Task Metric(int versionId, int downloads, int images) =>
        Execute("""
            INSERT INTO "ModelVersionMetric" ("modelVersionId", "downloadCount", "imageCount") VALUES (@id, @d, @i)
            ON CONFLICT ("modelVersionId") DO UPDATE SET "downloadCount" = excluded."downloadCount", "imageCount" = excluded."imageCount", "updatedAt" = now()
            """, ("id", versionId), ("d", downloads), ("i", images));

    public Task Review(int id, int versionId, int userId, bool recommended = true, bool exclude = false, bool tosViolation = false) =>
        Execute("""
            INSERT INTO "ResourceReview" ("id", "modelId", "modelVersionId", "userId", "rating", "recommended", "exclude", "tosViolation")
            SELECT @id, v."modelId", @version, @user, 5, @rec, @ex, @tos FROM "ModelVersion" v WHERE v."id" = @version
            """, ("id", id), ("version", versionId), ("user", userId), ("rec", recommended), ("ex", exclude), ("tos", tosViolation));

    public Task UpdateReview(int id, bool recommended, bool exclude = false, bool tosViolation = false) =>
        Execute("""UPDATE "ResourceReview" SET "recommended" = @rec, "exclude" = @ex, "tosViolation" = @tos, "updatedAt" = now() WHERE "id" = @id""",
            ("id", id), ("rec", recommended), ("ex", exclude), ("tos", tosViolation));

    public Task DeleteReview(int id) => Execute("""DELETE FROM "ResourceReview" WHERE "id" = @id""", ("id", id));

    public Task SetVersionStatus(int id, string status) =>
        Execute("""UPDATE "ModelVersion" SET "status" = @status::"ModelStatus", "updatedAt" = now() WHERE "id" = @id""", ("id", id), ("status", status));

    public Task MoveVersion(int id, string baseModel) =>
        Execute("""UPDATE "ModelVersion" SET "baseModel" = @base, "updatedAt" = now() WHERE "id" = @id""", ("id", id), ("base", baseModel));

    public Task DeleteVersion(int id) => Execute("""DELETE FROM "ModelVersion" WHERE "id" = @id""", ("id", id));

    public Task DeleteMetric(int versionId) => Execute("""DELETE FROM "ModelVersionMetric" WHERE "modelVersionId" = @id""", ("id", versionId));

    public Task DeleteModel(int id) => Execute("""DELETE FROM "Model" WHERE "id" = @id""", ("id", id));

    public Task EditModel(int id, string status, int nsfwLevel, bool poi = false, string? mode = null) =>
        Execute("""UPDATE "Model" SET "status" = @status::"ModelStatus", "nsfwLevel" = @nsfw, "poi" = @poi, "mode" = @mode::"ModelModifier", "updatedAt" = now() WHERE "id" = @id""",
            ("id", id), ("status", status), ("nsfw", nsfwLevel), ("poi", poi), ("mode", (object?)mode ?? DBNull.Value));

    private async Task Execute(string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = dataSource.CreateCommand(sql);
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
    }
}
