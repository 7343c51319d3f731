using BenchmarkDotNet.Attributes;
using RwkvQuant.Formats;
using RwkvQuant.Quantization;
using RwkvQuant.Vector.Gptvq;
using RwkvQuant.Vector.KMeans;
using static TorchSharp.torch;

namespace RwkvQuant.Benchmarks.Vector;

/// <summary>
/// Time per matrix of GPTVQ (default options: d = 1, b = 3, 2 × 32 groups, 100 k-means iterations, 10 refinement
/// steps) against plain k-means VQ at the same bits (the baseline), on a square Gaussian weight with a Hessian from
/// correlated inputs.
/// </summary>
[MemoryDiagnoser]
public class GptvqBenchmarks
{
    private TensorData _weight = null!;
    private Hessian _hessian = null!;
    private readonly KMeansVectorQuantizer _kmeans = new();
    private readonly GptvqQuantizer _gptvq = new();

    /// <summary>Rows = columns of the weight.</summary>
    [Params(1024, 4096)]
    public int Size { get; set; }

    /// <summary>Builds the weight and H = (2/N) Σ x xᵀ over N = 2·Size correlated inputs.</summary>
    [GlobalSetup]
    public void Setup()
    {
        using var scope = NewDisposeScope();
        var generator = new TorchSharp.torch.Generator(7);
        Tensor w = randn([Size, Size], generator: generator).mul(0.05f);
        _weight = TensorData.FromFloats("w", [Size, Size], w.data<float>().ToArray());
        Tensor z = randn([2 * Size, Size], generator: generator);
        Tensor x = z.add(z.roll(1, 1)).add(z.roll(2, 1)).mul(rand([Size], generator: generator).add(0.2f));
        using var accumulator = new HessianAccumulator(Size);
        accumulator.Add(x);
        _hessian = accumulator.Build();
    }

    /// <summary>Plain k-means VQ.</summary>
    [Benchmark(Baseline = true)]
    public QuantizedTensor KMeansVq() => _kmeans.Quantize(_weight);

    /// <summary>GPTVQ.</summary>
    [Benchmark]
    public QuantizedTensor Gptvq() => _gptvq.Quantize(_weight, _hessian);
}
