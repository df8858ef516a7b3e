using System.Text.Json;
using Bmm.Tests.Infrastructure;

namespace Bmm.Tests.Cli;

/// <summary>
/// The build the README tells operators to deploy: <c>dotnet publish -c Release -r linux-x64</c>
/// of the product, with no other flag, is one native executable that runs the job's commands.
/// </summary>
public sealed class NativeBuildTests : FreshDatabaseTest
{
    [Fact]
    public async Task The_published_product_is_one_native_executable_that_runs_reports_and_verifies()
    {
        var output = Directory.CreateTempSubdirectory("bmm-publish-").FullName;
        try
        {
            var project = Path.Combine(RepositoryRoot(), "src", "Bmm", "Bmm.csproj");
            // MSBuild's variables of the test run would point the nested build at the test host's SDK settings.
            var msbuild = Environment.GetEnvironmentVariables().Keys.Cast<string>()
                .Where(name => name.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList();
            var publish = await BmmProcess.RunExecutableAsync("dotnet", null, null, null, ["publish", project, "-c", "Release", "-r", "linux-x64", "-o", output], msbuild);
            Assert.True(publish.ExitCode == 0, publish.ToString());
            var bmm = Path.Combine(output, "bmm");
            Assert.True(File.Exists(bmm), "no bmm executable in the publish output");
            Assert.False(File.Exists(Path.Combine(output, "bmm.dll")), "the publish output holds IL, not a native executable");

            await Site.Model(1);
            await Site.Version(11, 1, "SDXL 1.0");
            await Site.Metric(11, 10, 2);
            var run = await BmmProcess.RunExecutableAsync(bmm, Db.ConnectionString, null, null, ["run", "--strategy", "incremental", "--json"]);
            Assert.True(run.ExitCode == 0, run.ToString());
            using (var report = JsonDocument.Parse(run.Output))
            {
                Assert.Equal("succeeded", report.RootElement.GetProperty("outcome").GetString());
                Assert.True(report.RootElement.GetProperty("inserted").GetInt64() + report.RootElement.GetProperty("updated").GetInt64() >= 1, run.Output);
            }
            var verify = await BmmProcess.RunExecutableAsync(bmm, Db.ConnectionString, null, null, ["verify", "--json"]);
            Assert.True(verify.ExitCode == 0, verify.ToString());
            var status = await BmmProcess.RunExecutableAsync(bmm, Db.ConnectionString, null, null, ["status", "--json"]);
            Assert.True(status.ExitCode == 0, status.ToString());
            using (var report = JsonDocument.Parse(status.Output))
                Assert.Equal("incremental", report.RootElement.GetProperty("runs")[0].GetProperty("strategy").GetString());
            var bad = await BmmProcess.RunExecutableAsync(bmm, Db.ConnectionString, new Dictionary<string, string> { ["BMM_Job__BatchSize"] = "0" }, null, ["run"]);
            Assert.Equal(2, bad.ExitCode);
            Assert.Contains("Job:BatchSize", bad.Error, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            if (File.Exists(Path.Combine(directory.FullName, "bmm.slnx"))) return directory.FullName;
        throw new InvalidOperationException("bmm.slnx not found above the test binaries.");
    }
}
