namespace Bmm.Seeding;

/// <summary>Told how the seed goes, step by step (the CLI draws progress bars from it).</summary>
public interface ISeedProgress
{
    /// <summary>A step starts; <paramref name="total"/> is its number of units (rows, or statements).</summary>
    void Begin(string step, long total);

    /// <summary>Some units of a begun step are done. Called from one thread at a time per step.</summary>
    void Advance(string step, long units);

    void Complete(string step);
}
