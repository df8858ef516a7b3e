using Bmm.Configuration;
using Bmm.Hosting;
using Bmm.Serve;
using Bmm.Telemetry;

namespace Bmm.Tests.Serve;

/// <summary>The pure parts of serve: the schedule, the URL, the health rule.</summary>
public sealed class ServeScheduleTests
{
    private static readonly DateTimeOffset Now = new(2025, 3, 1, 12, 2, 30, TimeSpan.Zero);

    [Theory]
    [InlineData("*/5 * * * *", 300)]
    [InlineData("* * * * * *", 1)]
    [InlineData("*/2 * * * * *", 2)]
    [InlineData("0 */6 * * *", 21_600)]
    [InlineData("@hourly", 3_600)]
    public void Five_and_six_field_schedules_parse_and_give_their_interval(string text, int seconds)
    {
        var schedule = CronSchedule.Parse(text);
        Assert.Equal(TimeSpan.FromSeconds(seconds), schedule.IntervalAfter(Now));
        Assert.True(schedule.Next(Now) > Now);
    }

    [Theory]
    [InlineData("")]
    [InlineData("*/5 * * *")]
    [InlineData("* * * * * * *")]
    [InlineData("70 * * * *")]
    [InlineData("0 0 30 2 *")]
    public void Malformed_or_never_firing_schedules_are_usage_errors(string text) =>
        Assert.Throws<UsageException>(() => CronSchedule.Parse(text));

    [Theory]
    [InlineData("http://127.0.0.1:9464/", "http://127.0.0.1:9464/")]
    [InlineData("http://127.0.0.1:9464", "http://127.0.0.1:9464/")]
    [InlineData("http://+:9464/bmm", "http://+:9464/bmm/")]
    public void Metrics_urls_become_listener_prefixes(string url, string prefix) =>
        Assert.Equal(prefix, MetricsAddress.TryParse(url)?.Prefix);

    [Theory]
    [InlineData("https://127.0.0.1:9464/")]
    [InlineData("127.0.0.1:9464")]
    [InlineData("http://127.0.0.1:9464/?x=1")]
    public void Other_urls_are_usage_errors(string url) => Assert.Contains("is not an http:// URL", MetricsAddress.Problem(url, "Serve:MetricsUrl"), StringComparison.Ordinal);

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(5, 16)]
    [InlineData(9, 256)]
    [InlineData(10, 300)]
    [InlineData(1000, 300)]
    public void Failures_back_off_from_the_floor_doubling_to_the_ceiling(int failures, double seconds)
    {
        var scheduler = new Scheduler(null!, null!, null, CronSchedule.Parse("* * * * *"),
            new ServeOptions { FailureBackoffFloorSeconds = 1, FailureBackoffCeilingSeconds = 300 }, TimeProvider.System,
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, null!);
        Assert.Equal(TimeSpan.FromSeconds(seconds), scheduler.BackoffAfter(failures));
    }

    [Theory]
    [InlineData(0, 10, true)]
    [InlineData(0, 900, true)]
    [InlineData(0, 901, false)]
    [InlineData(901, 10, false)]
    [InlineData(899, 10, true)]
    public void Health_is_the_larger_of_lag_and_time_since_success_against_three_intervals(double lag, double sinceSuccess, bool healthy)
    {
        var reading = new StateReading(new JobStateSnapshot(0, 1, 0, lag, sinceSuccess), Now, null);
        var report = ServeHealthCheck.Evaluate(reading, CronSchedule.Parse("*/5 * * * *"), 3, Now, Now.AddDays(-1));
        Assert.Equal(healthy, report.Healthy);
    }

    [Fact]
    public void A_reading_ages_until_the_next_one()
    {
        var reading = new StateReading(new JobStateSnapshot(0, 1, 0, 100, 50), Now, null);
        var report = ServeHealthCheck.Evaluate(reading, CronSchedule.Parse("*/5 * * * *"), 3, Now.AddSeconds(801), Now.AddDays(-1));
        Assert.False(report.Healthy);
        Assert.Contains("oldest pending change 901s", report.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Before_any_success_the_serving_time_stands_in_and_a_failed_read_is_unhealthy()
    {
        var schedule = CronSchedule.Parse("*/5 * * * *");
        var never = new StateReading(new JobStateSnapshot(0, 0, 0, 0, double.PositiveInfinity), Now, null);
        Assert.True(ServeHealthCheck.Evaluate(never, schedule, 3, Now, Now.AddSeconds(-60)).Healthy);
        var stale = ServeHealthCheck.Evaluate(never, schedule, 3, Now, Now.AddSeconds(-1000));
        Assert.False(stale.Healthy);
        Assert.Contains("no successful run", stale.Reason, StringComparison.Ordinal);
        var failed = ServeHealthCheck.Evaluate(never with { Error = new TimeoutException("The database did not answer.") }, schedule, 3, Now, Now);
        Assert.False(failed.Healthy);
        Assert.StartsWith("cannot read the job state", failed.Reason, StringComparison.Ordinal);
    }
}
