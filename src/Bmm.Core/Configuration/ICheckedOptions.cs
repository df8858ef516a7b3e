using Microsoft.Extensions.Options;

namespace Bmm.Configuration;

/// <summary>Options that know their own rules; every host and command checks them through these.</summary>
public interface ICheckedOptions
{
    /// <summary>The first rule broken, as one sentence naming the setting; null when the options are valid.</summary>
    string? Problem();
}

/// <summary>The options validator of a host (<c>ValidateOnStart</c>): the options' own rules.</summary>
public sealed class CheckedOptionsValidator<T> : IValidateOptions<T> where T : class, ICheckedOptions
{
    public ValidateOptionsResult Validate(string? name, T options) =>
        options.Problem() is { } problem ? ValidateOptionsResult.Fail(problem) : ValidateOptionsResult.Success;
}

/// <summary>Rules that settings of a floating-point type share: NaN and infinity are not numbers of seconds.</summary>
internal static class Checks
{
    public static bool Finite(double value) => double.IsFinite(value);

    public static bool Positive(double value) => double.IsFinite(value) && value > 0;
}
