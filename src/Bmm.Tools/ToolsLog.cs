using Microsoft.Extensions.Logging;

namespace Bmm;

/// <summary>The log messages of the toolbox, with event ids after the library's and the product's.</summary>
internal static partial class ToolsLog
{
    // 9xxx: seeding, simulating, the demo (category Bmm.Tools)
    [LoggerMessage(9000, LogLevel.Information, "Seeding a {Scale} synthetic site with seed {Seed}: {Models} models")]
    public static partial void SeedStarted(ILogger logger, string scale, int seed, long models);

    [LoggerMessage(9001, LogLevel.Debug, "Loaded {Rows} rows into \"{Table}\" in {Seconds:F1}s")]
    public static partial void SeedTableLoaded(ILogger logger, string table, long rows, double seconds);

    [LoggerMessage(9002, LogLevel.Information, "Seeded {Models} models, {Versions} versions, {Reviews} reviews and {AggregateRows} aggregate rows in {Seconds:F1}s")]
    public static partial void SeedFinished(ILogger logger, long models, long versions, long reviews, long aggregateRows, double seconds);

    [LoggerMessage(9003, LogLevel.Information, "Simulating {Minutes} minutes of site changes at {Rate}x the site's rate from {Start:O}")]
    public static partial void SimulationStarted(ILogger logger, int minutes, double rate, DateTime start);

    [LoggerMessage(9004, LogLevel.Debug, "Simulated minute {Minute} ({At:O}): {MetricRows} metric rows, {ReviewChanges} review changes, {ModelEdits} model edits")]
    public static partial void SimulatedMinute(ILogger logger, int minute, DateTime at, long metricRows, long reviewChanges, long modelEdits);

    [LoggerMessage(9005, LogLevel.Information, "Simulated {Minutes} minutes in {Seconds:F1}s: {Transactions} transactions over {Models} models")]
    public static partial void SimulationFinished(ILogger logger, int minutes, double seconds, long transactions, long models);

    [LoggerMessage(9006, LogLevel.Information, "Recreated the embedded database \"{Database}\" for the demo")]
    public static partial void DemoDatabaseRecreated(ILogger logger, string database);
}
