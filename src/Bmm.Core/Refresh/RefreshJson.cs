using System.Text.Json;
using System.Text.Json.Serialization;

namespace Bmm.Refresh;

/// <summary>
/// The phases of a run as bmm.run_history stores them, serialized by generated code (the product
/// is published with NativeAOT, where reflection-based serialization is unavailable).
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(Dictionary<string, double>))]
internal sealed partial class RefreshJson : JsonSerializerContext;
