using System.Text.Json;
using System.Text.Json.Serialization;

namespace Bmm.Strategies.Sequential;

/// <summary>
/// One (model, base model) as the baselines compute it, serialized (camelCase) into the upsert's
/// jsonb. Counters are the raw bigint sums: nothing clamps them.
/// </summary>
internal sealed record PairStats(int ModelId, string BaseModel, long ThumbsUpCount, long DownloadCount, long ImageCount);

/// <summary>The baselines' upsert payload, in the site's camelCase, serialized by generated code (NativeAOT).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(PairStats[]))]
internal sealed partial class PairStatsJson : JsonSerializerContext;
