using RwkvQuant.Cli;

namespace RwkvQuant.Tests.Cli;

public class ComparisonPlotTests
{
    [Fact]
    public void Kl_within_one_decade_gets_several_labelled_ticks()
    {
        // KL between 6e-3 and 2.5e-2: the old integer-only ticks labelled 1e-2 alone.
        List<(double Position, string? Label)> ticks = ComparisonPlot.LogTickPositions(Math.Log10(6e-3), Math.Log10(2.5e-2));
        Assert.Equal(["5e-3", "1e-2", "2e-2"], ticks.Where(t => t.Label is not null).Select(t => t.Label));
        Assert.All(ticks.Where(t => t.Label is not null),
            t => Assert.Equal(double.Parse(t.Label!, System.Globalization.CultureInfo.InvariantCulture), Math.Pow(10, t.Position), 1e-12));
        Assert.Contains(ticks, t => t.Label is null);                         // 6e-3 … 9e-3 as minor ticks
    }

    [Fact]
    public void A_long_title_is_wrapped_at_spaces()
    {
        string title = "default-rwkv7 (embedded): bits per byte on reference-pack evaluation split documents 0..40";
        string[] lines = ComparisonPlot.Wrap(title, 70).Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.All(lines, l => Assert.True(l.Length <= 70));
        Assert.Equal(title, string.Join(" ", lines));
        Assert.Equal("short", ComparisonPlot.Wrap("short", 70));
    }
}
