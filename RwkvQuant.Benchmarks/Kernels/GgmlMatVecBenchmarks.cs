using BenchmarkDotNet.Attributes;
using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Benchmarks.Kernels;

/// <summary>
/// y = W·x for ggml blocks (4096 × 4096, random blocks), one token, on every tier of <see cref="GgmlMatVec"/> this
/// machine runs, the scalar decode (each block decoded by the reference, then a SIMD dot) as the baseline: the 128-bit
/// tier is what an ARM64 machine runs (here through SSE).
/// </summary>
[MemoryDiagnoser]
public class GgmlMatVecBenchmarks
{
    private const int Rows = 4096, Columns = 4096;

    private PackedGgmlBlocks _blocks = null!;
    private float[] _x = [];
    private float[] _y = [];

    /// <summary>The block type.</summary>
    [Params(GgmlBlockType.Q4_0, GgmlBlockType.Q5_1, GgmlBlockType.Q8_0)]
    public GgmlBlockType Type { get; set; }

    /// <summary>Random blocks (a small FP16 d and m in each) and a random x.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(2);
        int blockBytes = PackedGgmlBlocks.BytesPerBlock(Type);
        var bytes = new byte[Rows * Columns / PackedGgmlBlocks.BlockSize * blockBytes];
        random.NextBytes(bytes);
        for (int b = 0; b < bytes.Length; b += blockBytes)
        {
            BitConverter.TryWriteBytes(bytes.AsSpan(b), (Half)(random.NextDouble() * 0.01));
            if (Type is GgmlBlockType.Q4_1 or GgmlBlockType.Q5_1)
                BitConverter.TryWriteBytes(bytes.AsSpan(b + 2), (Half)(random.NextDouble() * 0.01));
        }
        _blocks = PackedGgmlBlocks.FromBlocks(Type, Rows, Columns, bytes);
        _x = Enumerable.Range(0, Columns).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        _y = new float[Rows];
    }

    /// <summary>Each block decoded to floats by the reference, then dotted (the scalar tier).</summary>
    [Benchmark(Baseline = true)]
    public float ScalarDecode() => Run(SimdTier.Scalar);

    /// <summary>The portable 128-bit tier (SSE here; AdvSimd on ARM64).</summary>
    [Benchmark]
    public float Vector128Tier() => Run(SimdTier.Vector128);

    /// <summary>The AVX2 tier (this machine's best when it has no AVX-512; the 128-bit tier again where it has no AVX2).</summary>
    [Benchmark]
    public float Avx2Tier() => Run(SimdTiers.IsSupported(SimdTier.Avx2) ? SimdTier.Avx2 : SimdTier.Vector128);

    private float Run(SimdTier tier)
    {
        GgmlMatVec.MatVec(_blocks, _x, _y, 1, tier);
        return _y[0];
    }
}
