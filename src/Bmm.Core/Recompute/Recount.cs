using Bmm.Capture;

namespace Bmm.Recompute;

/// <summary>
/// Which pairs of a batch to recount distinct thumbs-up users for: all of them, or the given
/// (model, base model) pairs (and those the table lacks).
/// </summary>
public sealed record Recount(bool All, int[] Models, string[] Bases)
{
    public static readonly Recount Everything = new(true, [], []);

    /// <summary>The pairs a sweep's models ask to recount (every pair when one of them asks for all of its own).</summary>
    public static Recount PairsOf(IReadOnlyCollection<SweepModel> models)
    {
        if (models.Any(m => m.RecountBases is null)) return Everything;
        var pairs = models.SelectMany(m => m.RecountBases!.Select(b => (m.ModelId, Base: b))).ToList();
        return new Recount(false, pairs.Select(p => p.ModelId).ToArray(), pairs.Select(p => p.Base).ToArray());
    }
}
