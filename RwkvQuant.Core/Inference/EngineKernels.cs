using RwkvQuant.Kernels.MatVec;

namespace RwkvQuant.Inference;

/// <summary>
/// The engine's kernels as an app sees them: how many threads each matrix-vector product splits its rows over, and which
/// product each stored scheme runs on this machine (AVX-512, AVX2, 128-bit or the portable row decode), for reports that
/// say why a quantized model runs as fast as it does. <c>rwkvquant bench</c> and <c>quantize</c> print these lines.
/// </summary>
public static class EngineKernels
{
    /// <summary>Threads each product splits its rows over (every processor by default); the command line's <c>--threads</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1.</exception>
    public static int Threads
    {
        get => ProductThreads.Count;
        set => ProductThreads.Count = value;
    }

    /// <summary>
    /// Which product each packed scheme runs on this machine, in one line for reports (a quantized model that runs slower
    /// than expected says why), e.g. "group-scalar: 8-bit table lookup (AVX2); VQ: …; ggml: …; kept FP16/BF16: AVX2",
    /// short enough for the CLI's 160 columns.
    /// </summary>
    public static string DescribePaths()
    {
        string scalar = !BitPlaneMatVec.IsSupported ? "row decode"
            : FusedMatrixVectorProducts.Default.Lookup == GroupScalarLookup.Int8Tables ? $"8-bit table lookup ({SimdTiers.Describe(NibbleTableMatVec.Tier)})"
            : $"float table lookup ({SimdTiers.Describe(BitPlaneMatVec.Tier)})";
        string vector = VectorCodesMatVec.TierFor(1, 3, 64) switch
        {
            SimdTier.Avx512 => "centroid lookup (AVX-512)",
            SimdTier.Avx2 => "centroid lookup (AVX2)",
            SimdTier.Vector128 => "centroid lookup (128-bit: 1-D ≤ 16 entries, 2-D)",
            _ => "row decode",
        };
        string ggml = GgmlMatVec.Tier != SimdTier.Scalar ? $"block decode ({SimdTiers.Describe(GgmlMatVec.Tier)})" : "row decode";
        string kquants = KQuantMatVec.Tier != SimdTier.Scalar ? $"level unpack ({SimdTiers.Describe(KQuantMatVec.Tier)})" : "row decode";
        return $"group-scalar: {scalar}; VQ: {vector}; ggml: {ggml}; k-quants: {kquants}; kept FP16/BF16: {SimdTiers.Describe(HalfMatVec.Tier)}";
    }

    /// <summary>How many threads each product splits its rows over, e.g. "threads per product: 1 of 2 processors".</summary>
    public static string DescribeThreads() => $"threads per product: {ProductThreads.Count} of {Environment.ProcessorCount} processors";
}
