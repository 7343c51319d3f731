using RwkvQuant.Comparison;
using RwkvQuant.Evaluation;
using RwkvQuant.Formats;
using ScottPlot;

namespace RwkvQuant.Cli;

/// <summary>
/// The <c>compare --plot</c> figure (ScottPlot, rendered headless by Skia), written atomically: bits per byte against bits
/// per weight, one labelled point per method and the float32 model as a dashed horizontal line; beside it the same
/// methods' KL divergence to float32 on a log scale (when any method has one).
/// </summary>
internal static class ComparisonPlot
{
    public const int Width = 1400;
    public const int Height = 560;

    /// <param name="rows">The comparison; the first row is the float32 model (<see cref="QuantizerComparison.Run"/>).</param>
    public static void Write(string path, IReadOnlyList<ComparisonRow> rows, string title)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ComparisonRow? baseline = rows.Count > 0 && rows[0].Method == "float32" ? rows[0] : null;
        ComparisonRow[] methods = [.. rows.Where(r => r != baseline && double.IsFinite(r.BitsPerWeight))];
        ComparisonRow[] scored = [.. methods.Where(r => r.BitsPerByte is { } b && double.IsFinite(b))];
        ComparisonRow[] diverged = [.. methods.Where(r => r.KlDivergence is > 0 && double.IsFinite(r.KlDivergence.Value))];

        using var quality = new Plot();
        var multiplot = new Multiplot();
        multiplot.Reset(quality); // a new Multiplot starts with a blank plot of its own
        AddPoints(quality, scored, r => r.BitsPerByte!.Value);
        if (baseline?.BitsPerByte is { } reference)
        {
            var line = quality.Add.HorizontalLine(reference);
            line.LinePattern = LinePattern.Dashed;
            line.LegendText = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"float32: {reference:F4} bits/byte");
        }
        quality.Title(title, size: 15);
        quality.XLabel("bits per weight (block matrices)");
        quality.YLabel("bits per byte (lower is better)");
        quality.ShowLegend(Alignment.UpperRight);
        FitLimits(quality, scored.Select(r => r.BitsPerWeight),
            scored.Select(r => r.BitsPerByte!.Value).Concat(baseline?.BitsPerByte is { } b ? [b] : []));

        using var kl = new Plot();
        if (diverged.Length > 0)
        {
            multiplot.AddPlot(kl);
            // Log scale: plot log10(KL) and label the ticks as powers of ten.
            AddPoints(kl, diverged, r => Math.Log10(r.KlDivergence!.Value));
            kl.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
            {
                MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
                IntegerTicksOnly = true,
                LabelFormatter = y => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"1e{y:0}"),
            };
            kl.Title("KL divergence to float32 (per token)", size: 15);
            kl.XLabel("bits per weight (block matrices)");
            kl.YLabel("KL(float32 ‖ method), log scale");
            FitLimits(kl, diverged.Select(r => r.BitsPerWeight), diverged.Select(r => Math.Log10(r.KlDivergence!.Value)));
            multiplot.Layout = new ScottPlot.MultiplotLayouts.Columns();
        }

        using Image image = multiplot.Render(Width, Height);
        byte[] png = image.GetImageBytes(ImageFormat.Png);
        AtomicFile.Write(path, stream => stream.Write(png));
    }

    private static void AddPoints(Plot plot, IEnumerable<ComparisonRow> rows, Func<ComparisonRow, double> y)
    {
        foreach (ComparisonRow row in rows)
        {
            double value = y(row);
            var marker = plot.Add.Marker(row.BitsPerWeight, value);
            marker.MarkerSize = 9;
            var label = plot.Add.Text(row.Method, row.BitsPerWeight, value);
            label.LabelFontSize = 12;
            label.LabelOffsetX = 7;
            label.LabelOffsetY = -7;
            label.LabelFontColor = marker.Color;
        }
    }

    /// <summary>Limits around the points with room for the labels on the right; ScottPlot's auto-scale ignores the baseline line.</summary>
    private static void FitLimits(Plot plot, IEnumerable<double> xs, IEnumerable<double> ys)
    {
        double[] x = [.. xs], y = [.. ys];
        if (x.Length == 0 || y.Length == 0)
            return;
        double xSpan = Math.Max(x.Max() - x.Min(), 0.5), ySpan = Math.Max(y.Max() - y.Min(), 1e-3);
        plot.Axes.SetLimits(x.Min() - 0.08 * xSpan, x.Max() + 0.3 * xSpan, y.Min() - 0.12 * ySpan, y.Max() + 0.15 * ySpan);
    }
}
