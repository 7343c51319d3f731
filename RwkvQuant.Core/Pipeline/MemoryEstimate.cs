using RwkvQuant.Calibration;
using RwkvQuant.Models;

namespace RwkvQuant.Pipeline;

/// <summary>
/// What sequential calibration and quantization of a model will hold in memory at its worst moment, part by part, and
/// what the machine offers, so that a run that cannot fit fails before it starts rather than hours in
/// (<see cref="HybridQuantizer.QuantizeAsync"/> checks it first). An estimate from the shapes, not a proven bound:
/// measured on 2026-12-06 it was above the peaks of the 0.1B shape (1.71 GB against 1.22), the 1.5B shape (4.51 against
/// 3.60) and one layer of the 14B shape (11.97 against 10.13). (It ran low, 4.77 and 15.1 GB, while GPTQ and the error
/// report held up to seven n×n float64 matrices; traced and fixed the same day: GPTQ now holds at most about 2.4.)
/// </summary>
/// <param name="CalibrationInputs">The activations at the current block's input held in memory: one block call's batch
/// (float32; twice for RWKV-7, whose blocks also carry block 0's value). The other samples wait in a temporary file
/// (<see cref="ActivationSpill"/>).</param>
/// <param name="BlockWork">One block call's activations (a few dozen tensors of <see cref="BlockInputs.ActivationBudget"/>
/// floats, the feed-forward ones wider) and the block's weights in float32.</param>
/// <param name="Hessians">The largest block's Hessians in float64 (accumulated, then built one by one, each accumulator
/// freed as its Hessian is built), and the float32 product of the widest input added to its sum.</param>
/// <param name="Quantizer">GPTQ/GPTVQ on the widest matrix: three float64 n×n matrices at the Cholesky and triangular
/// solve (<c>InverseHessianFactor.ComputeConsuming</c>), and float64 copies of the matrix.</param>
/// <param name="Output">The quantized tensors, when held until the model is saved: half a byte per block weight (the
/// hybrid's 3–4 bits per weight, scales included); 0 when they are written as each block finishes.</param>
/// <param name="Runtime">The .NET runtime, libtorch and the file-backed model's bookkeeping (a fixed allowance).</param>
/// <param name="Available">The memory the process may use (physical memory or the container's limit).</param>
public sealed record MemoryEstimate(long CalibrationInputs, long BlockWork, long Hessians, long Quantizer, long Output, long Runtime, long Available)
{
    /// <summary>The estimated peak: the sum of the parts.</summary>
    public long Total => CalibrationInputs + BlockWork + Hessians + Quantizer + Output + Runtime;

    /// <summary>Whether <see cref="Total"/> fits in <see cref="Available"/>.</summary>
    public bool Fits => Total <= Available;

    /// <summary>
    /// The estimate for quantizing <paramref name="model"/> with calibration cut as <paramref name="options"/> says;
    /// <paramref name="holdsOutput"/>: whether the quantized tensors are held until the end
    /// (<see cref="HybridQuantizer.QuantizeAsync"/>) rather than written as each block finishes
    /// (<see cref="HybridQuantizer.QuantizeToFileAsync"/>, where <see cref="Output"/> is 0).
    /// </summary>
    public static MemoryEstimate For(RwkvModel model, CalibrationOptions options, bool holdsOutput = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        RwkvConfig c = model.Config;
        long tokens = options.TokensPerSample, width = c.EmbeddingSize;

        List<LinearWeight> matrices = [.. LinearWeights.Of(model).Where(w => w.Block >= 0)];
        long BlockSum(Func<LinearWeight, long> size) => matrices.GroupBy(w => w.Block).Select(block => block.Sum(size)).DefaultIfEmpty().Max();
        long Largest(Func<LinearWeight, long> size) => matrices.Select(size).DefaultIfEmpty().Max();
        long blockWeights = BlockSum(w => (long)w.Rows * w.Columns * sizeof(float));
        long widestSquare = Largest(w => (long)w.Columns * w.Columns);
        long hessians = BlockSum(w => (long)w.Columns * w.Columns * sizeof(double)) + widestSquare * sizeof(float);
        long widest = Largest(w => (long)w.Columns * w.Columns * 3 * sizeof(double) + (long)w.Rows * w.Columns * sizeof(double) * 2);
        long output = holdsOutput ? matrices.Sum(w => (long)w.Rows * w.Columns) / 2 : 0;

        long callTokens = BlockInputs.BatchSizeFor(options, c.EmbeddingSize) * tokens;
        long inputs = callTokens * width * sizeof(float) * (c.Version == RwkvVersion.V7 ? 2 : 1);
        double feedForwardRatio = Math.Max(1.0, (double)c.FeedForwardSize / width);
        long activations = (long)(callTokens * width * sizeof(float) * (40 + 4 * feedForwardRatio));

        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        return new MemoryEstimate(inputs, activations + blockWeights, hessians, widest, output, 1L << 30, available);
    }

    /// <summary>The estimate as one line: the total and what is available, then the parts (GB).</summary>
    public override string ToString() =>
        $"{Gb(Total)} GB of {Gb(Available)} GB available (calibration inputs {Gb(CalibrationInputs)}, block work {Gb(BlockWork)}, " +
        $"Hessians {Gb(Hessians)}, quantizer {Gb(Quantizer)}, output {Gb(Output)}, runtime {Gb(Runtime)} GB)";

    private static string Gb(long bytes) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{bytes / 1e9:F2}");
}
