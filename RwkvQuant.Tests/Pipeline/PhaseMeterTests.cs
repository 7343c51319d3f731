using System.Diagnostics;
using RwkvQuant.Pipeline;

namespace RwkvQuant.Tests.Pipeline;

public class PhaseMeterTests
{
    [Fact]
    public void Stretches_add_up_by_phase_and_the_time_between_them_is_other()
    {
        var clock = Stopwatch.StartNew();
        using var meter = new PhaseMeter();
        TimeSpan made = clock.Elapsed; // the meter's clock started within this
        for (int i = 0; i < 2; i++)
        {
            meter.Begin();
            Thread.Sleep(30);
            meter.End(QuantizationPhase.Scalar);
            Thread.Sleep(20); // between stretches: other
        }
        meter.Begin();
        SpinFor(TimeSpan.FromMilliseconds(60)); // busy: processor time too
        meter.End(QuantizationPhase.Calibration);
        TimeSpan before = clock.Elapsed;
        IReadOnlyList<PhaseCost> costs = meter.Costs();
        TimeSpan elapsed = clock.Elapsed;

        Assert.Equal([QuantizationPhase.Calibration, QuantizationPhase.Scalar, QuantizationPhase.Other], costs.Select(c => c.Phase));
        PhaseCost scalar = costs[1], calibration = costs[0], other = costs[2];
        Assert.InRange(scalar.Wall.TotalMilliseconds, 60, elapsed.TotalMilliseconds);
        Assert.InRange(calibration.Wall.TotalMilliseconds, 60, elapsed.TotalMilliseconds);
        Assert.InRange(other.Wall.TotalMilliseconds, 40, elapsed.TotalMilliseconds);
        // The phases add up to the meter's whole span, which lies between these bounds however slow the machine is.
        Assert.InRange(costs.Sum(c => c.Wall.TotalMilliseconds), (before - made).TotalMilliseconds - 0.01, elapsed.TotalMilliseconds + 0.01);
        Assert.True(calibration.Cpu > TimeSpan.Zero, "a busy stretch uses processor time");
        Assert.All(costs, c => Assert.True(c.PeakResidentBytes > 0));
    }

    private static void SpinFor(TimeSpan span)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < span)
            Thread.SpinWait(100);
    }
}
