namespace Bmm.Cli;

/// <summary>The process exit codes other tools script against.</summary>
public static class ExitCodes
{
    public const int Success = 0;
    /// <summary>verify found rows that differ from the oracle.</summary>
    public const int Drift = 1;
    /// <summary>Bad usage or configuration, an unreachable database, a missing table: nothing was written.</summary>
    public const int Usage = 2;
    /// <summary>The work started and failed (for example the connection dropped mid-run); the data is as it was before the failed transaction.</summary>
    public const int Failed = 3;
}
