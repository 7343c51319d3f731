using RwkvQuant.Formats;
using RwkvQuant.Training;
using ScottPlot;

namespace RwkvQuant.Cli;

/// <summary>The loss curves of a training log as a PNG (ScottPlot, rendered headless by Skia), written atomically.</summary>
internal static class TrainingPlot
{
    public const string FileName = "validation.png";

    public static void Write(string path, IReadOnlyList<TrainingLogEntry> log, string title)
    {
        var plot = new Plot();
        try
        {
            TrainingLogEntry[] validated = log.Where(e => e.ValidationBitsPerByte is not null).ToArray();
            if (log.Count > 0)
            {
                var train = plot.Add.Scatter(log.Select(e => (double)e.Step).ToArray(), log.Select(e => e.TrainBitsPerByte).ToArray());
                train.LegendText = "training (mean since previous row)";
                train.MarkerSize = 0;
                train.LineWidth = 1;
            }
            if (validated.Length > 0)
            {
                var validation = plot.Add.Scatter(validated.Select(e => (double)e.Step).ToArray(), validated.Select(e => e.ValidationBitsPerByte!.Value).ToArray());
                validation.LegendText = "validation";
                validation.MarkerSize = 5;
                validation.LineWidth = 2;
            }
            plot.Title(title);
            plot.XLabel("step");
            plot.YLabel("bits per byte");
            plot.ShowLegend(Alignment.UpperRight);
            byte[] png = plot.GetImageBytes(900, 540, ImageFormat.Png);
            AtomicFile.Write(path, stream => stream.Write(png));
        }
        finally
        {
            plot.Dispose();
        }
    }
}
