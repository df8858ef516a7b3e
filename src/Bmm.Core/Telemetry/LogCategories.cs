namespace Bmm.Telemetry;

/// <summary>One logger category per area, so that an operator can turn one area up (Logging:LogLevel:Bmm.Follow).</summary>
public static class LogCategories
{
    public const string Refresh = "Bmm.Refresh";
    public const string Follow = "Bmm.Follow";
    public const string Serve = "Bmm.Serve";
    public const string Verify = "Bmm.Verify";
    public const string Backfill = "Bmm.Backfill";
    public const string Schema = "Bmm.Schema";
    public const string Database = "Bmm.Database";
    public const string Health = "Bmm.Health";
    public const string Tools = "Bmm.Tools";
}
