using BenchmarkDotNet.Attributes;
using RwkvQuant.Formats;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar.Gptq;
using RwkvQuant.Scalar.Rtn;
using static TorchSharp.torch;

namespace RwkvQuant.Benchmarks.Scalar;

/// <summary>
/// Time to quantize one square weight matrix to 3 bits, groups of 64, FP16 scale and zero: round-to-nearest (the
/// baseline) against GPTQ (block 128, damping 1%). The Hessian is that of correlated inputs, H = F Fᵀ + D with 32
/// random factors F and a random positive diagonal D, built once.
/// </summary>
[MemoryDiagnoser]
public class GptqBenchmarks
{
    private const int Factors = 32;

    private readonly RoundToNearestQuantizer _rtn = new();
    private readonly GptqQuantizer _gptq = new();
    private TensorData _weight = null!;
    private Hessian _hessian = null!;

    /// <summary>Rows = columns of the weight.</summary>
    [Params(1024, 4096)]
    public int Size { get; set; }

    /// <summary>Builds the weight and the Hessian.</summary>
    [GlobalSetup]
    public void Setup()
    {
        using var scope = NewDisposeScope();
        var generator = new TorchSharp.torch.Generator(17);
        Tensor weight = randn([Size, Size], generator: generator).mul_(0.02f);
        _weight = TensorData.FromFloats("w", [Size, Size], weight.data<float>().ToArray());
        Tensor factors = randn([Size, Factors], dtype: ScalarType.Float64, generator: generator);
        Tensor diagonal = rand([Size], dtype: ScalarType.Float64, generator: generator).mul_(0.9).add_(0.1);
        Tensor h = factors.matmul(factors.t()).div_(Factors).add_(diag(diagonal));
        _hessian = new Hessian(Size, h.contiguous().data<double>().ToArray(), Size);
    }

    /// <summary>Round-to-nearest per group (ignores the Hessian).</summary>
    [Benchmark(Baseline = true)]
    public long RoundToNearest() => _rtn.Quantize(_weight).StoredBits;

    /// <summary>GPTQ with lazy block updates.</summary>
    [Benchmark]
    public long Gptq() => _gptq.Quantize(_weight, _hessian).StoredBits;
}
