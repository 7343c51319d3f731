using RwkvQuant.Models;
using static TorchSharp.torch;

namespace RwkvQuant.Calibration;

/// <summary>Runs calibration samples through a network with an observer (shared by the collectors).</summary>
internal static class CalibrationRunner
{
    /// <summary>Every sample of <paramref name="data"/>, in batches of <see cref="CalibrationOptions.BatchSize"/>, each from the empty state.</summary>
    public static void Run(RwkvNetwork network, CalibrationData data, INetworkObserver observer, IProgress<CalibrationProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(data);
        int total = data.Samples.Count, batchSize = data.Options.BatchSize;
        for (int first = 0; first < total; first += batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int count = Math.Min(batchSize, total - first);
            using var scope = NewDisposeScope();
            network.ForwardObserved(data.Batch(first, count), state: null, observer);
            progress?.Report(new CalibrationProgress(first + count, total));
        }
    }
}
