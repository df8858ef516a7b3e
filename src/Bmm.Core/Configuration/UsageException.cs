namespace Bmm.Configuration;

/// <summary>Bad usage or bad configuration: one sentence for the user, exit code 2, nothing written.</summary>
public sealed class UsageException(string message, Exception? inner = null) : Exception(message, inner);
