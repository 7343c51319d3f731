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
        quality.Title(Wrap(title, 70), size: 15);                            // a long model and text name would be clipped
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
            double[] logs = [.. diverged.Select(r => Math.Log10(r.KlDivergence!.Value))];
            kl.Axes.Left.TickGenerator = LogTicks(logs.Min(), logs.Max());
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

    /// <summary>
    /// Major ticks of a log10 axis at 1, 2 and 5 × 10^k labelled as such ("5e-3"), minor ticks at the other integers:
    /// KL values within one decade (the usual case) otherwise get a single labelled tick.
    /// </summary>
    internal static ScottPlot.TickGenerators.NumericManual LogTicks(double minLog, double maxLog)
    {
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        foreach ((double position, string? label) in LogTickPositions(minLog, maxLog))
        {
            if (label is null)
                ticks.AddMinor(position);
            else
                ticks.AddMajor(position, label);
        }
        return ticks;
    }

    /// <summary>The positions of <see cref="LogTicks"/>, with the label of each major tick (null: a minor tick).</summary>
    internal static List<(double Position, string? Label)> LogTickPositions(double minLog, double maxLog)
    {
        var ticks = new List<(double, string?)>();
        double span = Math.Max(maxLog - minLog, 1e-3), low = minLog - 0.15 * span, high = maxLog + 0.2 * span;
        for (int k = (int)Math.Floor(low) - 1; k <= (int)Math.Ceiling(high); k++)
        {
            for (int m = 1; m <= 9; m++)
            {
                double position = Math.Log10(m) + k;
                if (position >= low && position <= high)
                    ticks.Add((position, m is 1 or 2 or 5 ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{m}e{k}") : null));
            }
        }
        return ticks;
    }

    /// <summary><paramref name="text"/> broken into lines of at most about <paramref name="width"/> characters at spaces.</summary>
    internal static string Wrap(string text, int width)
    {
        var lines = new List<string>();
        var line = new System.Text.StringBuilder();
        foreach (string word in text.Split(' '))
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > width)
            {
                lines.Add(line.ToString());
                line.Clear();
            }
            line.Append(line.Length > 0 ? " " : "").Append(word);
        }
        lines.Add(line.ToString());
        return string.Join("\n", lines);
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
