using BenchmarkDotNet.Attributes;
using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Benchmarks.Kernels;

/// <summary>
/// y = W·x for llama.cpp's k-quant, IQ4 and IQ3_S blocks (4096 × 4096, random blocks), one token, on every tier of
/// <see cref="KQuantMatVec"/> this machine runs, the scalar decode (each block decoded by the reference, then a SIMD dot)
/// as the baseline: the 128-bit tier is what an ARM64 machine runs (here through SSE).
/// </summary>
[MemoryDiagnoser]
public class KQuantMatVecBenchmarks
{
    private const int Rows = 4096, Columns = 4096;

    private PackedKQuantBlocks _blocks = null!;
    private float[] _x = [];
    private float[] _y = [];

    /// <summary>The block format.</summary>
    [Params(KQuantType.Q2_K, KQuantType.Q3_K, KQuantType.Q4_K, KQuantType.IQ4_XS, KQuantType.IQ3_S)]
    public KQuantType Type { get; set; }

    /// <summary>Random blocks (small FP16 super-block scales) and a random x.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(2);
        int blockBytes = Type.BytesPerBlock();
        var bytes = new byte[Rows * Columns / Type.ValuesPerBlock() * blockBytes];
        random.NextBytes(bytes);
        int[] halves = Type switch { KQuantType.Q2_K => [80, 82], KQuantType.Q3_K => [108], KQuantType.Q4_K => [0, 2], _ => [0] };
        for (int b = 0; b < bytes.Length; b += blockBytes)
        {
            foreach (int offset in halves)
                BitConverter.TryWriteBytes(bytes.AsSpan(b + offset), (Half)(random.NextDouble() * 0.01));
        }
        _blocks = PackedKQuantBlocks.FromBlocks(Type, Rows, Columns, bytes);
        _x = Enumerable.Range(0, Columns).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        _y = new float[Rows];
    }

    /// <summary>Each block decoded to floats by the reference, then dotted (the scalar tier).</summary>
    [Benchmark(Baseline = true)]
    public float ScalarDecode() => Run(SimdTier.Scalar);

    /// <summary>The portable 128-bit tier (SSE here; AdvSimd on ARM64).</summary>
    [Benchmark]
    public float Vector128Tier() => Run(SimdTier.Vector128);

    /// <summary>The AVX2 tier (also what AVX-512 machines run; the 128-bit tier again where there is no AVX2).</summary>
    [Benchmark]
    public float Avx2Tier() => Run(KQuantMatVec.Supports(SimdTier.Avx2) ? SimdTier.Avx2 : SimdTier.Vector128);

    private float Run(SimdTier tier)
    {
        KQuantMatVec.MatVec(_blocks, _x, _y, 1, tier);
        return _y[0];
    }
}
