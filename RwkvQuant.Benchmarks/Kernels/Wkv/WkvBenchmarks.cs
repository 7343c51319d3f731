using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using RwkvQuant.Benchmarks.Kernels.KMeans;
using RwkvQuant.Kernels.Wkv;

namespace RwkvQuant.Benchmarks.Kernels.Wkv;

/// <summary>
/// The WKV recurrence at a realistic shape (H = 12 heads of N = 64, one 768-wide layer): the reference (baseline)
/// against the SIMD CPU version, for RWKV-6 and RWKV-7, in step mode (T = 1, generation) and sequence mode
/// (T = 128). The <c>Tokens/s</c> column is tokens per second through one layer's WKV, T / t.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class WkvBenchmarks
{
    private const int Heads = 12, HeadSize = 64;

    private WkvShape _shape;
    private float[] _r = [], _w = [], _k = [], _v = [], _u = [], _z = [], _b = [], _state = [], _y = [];

    /// <summary>RWKV version, 6 or 7.</summary>
    [Params(6, 7)]
    public int Version { get; set; }

    /// <summary>Tokens per call T: 1 (step mode) or 128 (sequence mode).</summary>
    [Params(1, 128)]
    public int Steps { get; set; }

    /// <summary>Random inputs of realistic ranges.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        float Next(double scale) => (float)((random.NextDouble() * 2 - 1) * scale);
        float[] Fill(int length, Func<float> next) => Enumerable.Range(0, length).Select(_ => next()).ToArray();
        _shape = new WkvShape(Steps, Heads, HeadSize);
        int length = _shape.TokenLength;
        _r = Fill(length, () => Next(1));
        _k = Fill(length, () => Next(0.5));
        _v = Fill(length, () => Next(1));
        _w = Fill(length, () => 0.9f + Next(0.09));
        _u = Fill(_shape.HeadVectorLength, () => Next(1));
        _z = Fill(length, () => Next(1.0 / 8));  // about unit norm per head of 64
        _b = _z.Select(x => -0.5f * x).ToArray();
        _state = new float[_shape.StateLength];
        _y = new float[length];
    }

    /// <summary>The plain C# twin.</summary>
    [Benchmark(Baseline = true)]
    public float Reference()
    {
        if (Version == 6)
            Wkv6Reference.Run(_shape, _r, _w, _k, _v, _u, _state, _y);
        else
            Wkv7Reference.Run(_shape, _r, _w, _k, _v, _z, _b, _state, _y);
        return _y[^1];
    }

    /// <summary>Vector256 over the state's lines, heads in parallel when large enough.</summary>
    [Benchmark]
    public float Simd()
    {
        if (Version == 6)
            Wkv6Cpu.Run(_shape, _r, _w, _k, _v, _u, _state, _y);
        else
            Wkv7Cpu.Run(_shape, _r, _w, _k, _v, _z, _b, _state, _y);
        return _y[^1];
    }

    private sealed class ThroughputConfig : ManualConfig
    {
        public ThroughputConfig() => AddColumn(new WorkPerSecondColumn("Tokens/s", c => WorkPerSecondColumn.Parameter(c, nameof(Steps))));
    }
}
