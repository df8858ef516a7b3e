namespace Bmm.Seeding;

/// <summary>
/// The words the synthetic site is made of: base models in order of popularity (a Zipf-like
/// distribution over them puts about half of the (model, base model) pairs on the first three),
/// model types, names, review texts. Shared by the seed and the simulator.
/// </summary>
internal static class SiteVocabulary
{
    /// <summary>Exponent of the popularity of the base models: the first three hold about half of the pairs.</summary>
    private const double BaseModelZipfExponent = 1.15;

    /// <summary>Base models, most popular first; a few carry quotes and non-ASCII letters on purpose.</summary>
    public static readonly string[] BaseModels =
    [
        "SDXL 1.0", "Pony", "Illustrious", "SD 1.5", "Flux.1 D", "NoobAI", "Wan Video", "Hunyuan Video",
        "Flux.1 S", "SD 3.5", "SDXL Lightning", "SD 2.1", "SDXL Turbo", "Flux.1 Kontext", "SD 3.5 Large",
        "Wan Video 14B t2v", "Wan Video 14B i2v 720p", "Qwen", "Chroma", "HiDream", "SD 3.5 Medium",
        "Kolors \"HD\"", "SD 1.4", "SD 2.0", "SD 3", "Stable Cascade", "Playground v2", "PixArt a",
        "PixArt Σ", "Lumina", "AuraFlow", "LTXV", "Mochi", "CogVideoX", "SVD", "Hunyuan 1 (混元)",
        "SDXL Hyper", "SD 1.5 LCM", "Illustrious 2.0 \"XL\"", "Other",
    ];

    private static readonly double[] BaseModelCumulative = Cumulative(BaseModels.Length, BaseModelZipfExponent);

    public static readonly string[] VersionStatusesNotPublished =
        ["Draft", "Draft", "Draft", "Draft", "Unpublished", "Unpublished", "Unpublished", "Training", "Scheduled", "UnpublishedViolation", "GatherInterest", "Deleted"];

    public static readonly string[] ModelTypes =
        ["LORA", "LORA", "LORA", "LORA", "LORA", "LORA", "LORA", "LORA", "LORA", "LORA", "LORA", "LORA",
         "Checkpoint", "Checkpoint", "Checkpoint", "TextualInversion", "LoCon", "LoCon", "Controlnet", "Workflows", "Upscaler", "VAE", "Other"];

    /// <summary>Browsing levels as the site stores them: bit flags, mostly one level.</summary>
    public static readonly int[] NsfwLevels = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 4, 4, 8, 16, 3, 3, 7, 15, 31, 28, 0];

    public static readonly string[] Availabilities = ["Public", "EarlyAccess", "Unsearchable", "Private"];

    private static readonly string[] Adjectives =
        ["Dreamy", "Realistic", "Anime", "Cinematic", "Retro", "Neon", "Soft", "Dark", "Pastel", "Epic", "Cozy", "Gothic",
         "Vintage", "Hyper", "Painterly", "Cyber", "Mystic", "Golden", "Frozen", "Wild", "Café", "Ñandú", "Tiny", "Majestic"];

    private static readonly string[] Nouns =
        ["Portraits", "Landscapes", "Style", "Character", "Armor", "Cityscape", "Dragons", "Fashion", "Mecha", "Forest",
         "Watercolor", "Lineart", "Sketch", "Photography", "Interior", "Creatures", "Cars", "Food", "少女", "Ukiyo-e", "Pixel Art", "Clay"];

    private static readonly string[] Suffixes = ["", "", "", "", " XL", " v2", " Mix", " LoRA", " Pro", " (Beta)", " \"Ultimate\"", " Turbo"];

    public static readonly string[] ReviewTexts =
        ["Great model!", "Works well with high CFG.", "Not what I expected.", "Love it", "Amazing details, thanks!",
         "Hands are still bad.", "素晴らしい！", "Très bien", "Needs a trigger word in the description.", "Best one so far."];

    /// <summary>A base model, drawn by popularity.</summary>
    public static string BaseModel(Random random) => BaseModels[Draw(random, BaseModelCumulative)];

    public static string ModelName(Random random) =>
        $"{Pick(random, Adjectives)} {Pick(random, Nouns)}{Pick(random, Suffixes)}";

    public static T Pick<T>(Random random, T[] values) => values[random.Next(values.Length)];

    /// <summary>Cumulative Zipf weights 1/k^s for k = 1..n, normalized to end at 1.</summary>
    public static double[] Cumulative(int n, double exponent, double offset = 0)
    {
        var cumulative = new double[n];
        var total = 0.0;
        for (var k = 0; k < n; k++)
        {
            total += 1.0 / Math.Pow(k + 1 + offset, exponent);
            cumulative[k] = total;
        }
        for (var k = 0; k < n; k++) cumulative[k] /= total;
        cumulative[n - 1] = 1.0;
        return cumulative;
    }

    /// <summary>An index drawn from cumulative weights.</summary>
    public static int Draw(Random random, double[] cumulative)
    {
        var index = Array.BinarySearch(cumulative, random.NextDouble());
        return Math.Min(index < 0 ? ~index : index, cumulative.Length - 1);
    }
}
