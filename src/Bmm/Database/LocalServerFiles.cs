namespace Bmm.Database;

/// <summary>What bmm's own servers (PostgreSQL, ClickHouse) share: where their folders live, and one starter at a time per folder.</summary>
internal static class LocalServerFiles
{
    /// <summary>The clone's folder (the one holding bmm.slnx) above the binary or the current folder, if any.</summary>
    public static string? FindProjectRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "bmm.slnx"))) return dir.FullName;
            }
        }
        return null;
    }

    /// <summary>An exclusive lock on <paramref name="path"/>, held while the stream is open: processes starting a server wait for each other.</summary>
    public static async Task<FileStream> AcquireFileLockAsync(string path, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException)
            {
                await Task.Delay(100, cancellationToken);
            }
        }
    }
}
