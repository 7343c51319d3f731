using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using RwkvQuant.Benchmarks.Kernels.KMeans;
using RwkvQuant.DefaultModel;
using RwkvQuant.Inference;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar.Rtn;
using static TorchSharp.torch;

namespace RwkvQuant.Benchmarks.Inference;

/// <summary>
/// End-to-end recurrent decoding, one token per operation (<c>Tokens/s</c> = 1 / t): the float32 TorchSharp network's
/// <c>ForwardStep</c> (baseline), the inference engine on the float32 model, and the engine on the model quantized with
/// RTN 3-bit g64 for every block matrix (embedding and head kept FP16), read straight from the packed weights. Models:
/// a synthetic RWKV-7 of realistic shape (12 layers × 768, vocabulary 65536), the embedded default model (a byte-level
/// RWKV-7, 4 layers × 256) and the tiny v6/v7 fixtures. The weight
/// bytes each engine reads per token are printed in the setup log.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(TokensConfig))]
public class DecodingBenchmarks
{
    /// <summary>The synthetic model's name among <see cref="Model"/>'s values.</summary>
    public const string Synthetic = "synthetic-v7-12x768-v65536";

    private RwkvNetwork _network = null!;
    private RwkvState _networkState = null!;
    private RwkvEngine _fullEngine = null!, _quantizedEngine = null!;
    private RwkvEngineState _fullState = null!, _quantizedState = null!;
    private Tensor _token = null!;
    private float[] _logits = [];

    /// <summary>The embedded default model's name among <see cref="Model"/>'s values.</summary>
    public const string Default = "default-v7-4x256";

    /// <summary>The model: the synthetic RWKV-7, the embedded default model or an rwkv.cpp fixture.</summary>
    [Params(Synthetic, Default, "tiny-rwkv-6v0-1m-FP32.bin", "tiny-rwkv-7v0-834K-FP32.bin")]
    public string Model { get; set; } = "";

    /// <summary>Threads per product (and TorchSharp's intra-op threads): 1, or 0 for every processor.</summary>
    [Params(1, 0)]
    public int Threads { get; set; }

    private int _previousThreads;

    /// <summary>Builds (or loads) the model, quantizes it, and creates the three runners with their states.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _previousThreads = UseThreads(Threads);
        (RwkvModel model, QuantizedModel q) = Models(Model);
        _fullEngine = RwkvEngine.Create(model);
        _quantizedEngine = RwkvEngine.Create(q);
        _fullState = _fullEngine.CreateState();
        _quantizedState = _quantizedEngine.CreateState();
        _network = RwkvNetwork.Create(model);
        _networkState = _network.CreateState(1);
        _token = tensor(new long[] { 65 });
        _logits = new float[model.Config.VocabularySize];
        Console.WriteLine($"// {Model}: weight bytes per token: float32 engine {_fullEngine.WeightBytesPerToken:N0}, " +
                          $"quantized engine {_quantizedEngine.WeightBytesPerToken:N0} (quantized matrices {_quantizedEngine.QuantizedWeightBytesPerToken:N0}, " +
                          $"{q.QuantizedBitsPerWeight:F3} bpw), ratio {(double)_fullEngine.WeightBytesPerToken / _quantizedEngine.WeightBytesPerToken:F2}");
    }

    /// <summary>The float32 model called <paramref name="name"/> (<see cref="Synthetic"/> or a fixture) and its RTN 3-bit g64
    /// quantization (every block matrix; embedding and head kept FP16).</summary>
    internal static (RwkvModel Model, QuantizedModel Quantized) Models(string name)
    {
        RwkvModel model = name switch
        {
            Synthetic => SyntheticModels.Create(SyntheticModels.Find("rwkv7-0.1b")),
            Default => EmbeddedModel.Load(),
            _ => RwkvModelFile.Load(FixturePath.Find("rwkvcpp", name)),
        };
        var rtn = new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = 3, GroupSize = 64 });
        QuantizedTensor[] quantized = LinearWeights.Of(model).Where(w => w.Block >= 0)
            .AsParallel().Select(w => rtn.Quantize(w.ToMatrix(model[w.Name]))).ToArray();
        return (model, QuantizedModel.Create(model, quantized));
    }

    /// <summary>Sets the engine's threads per product and TorchSharp's (0: every processor); returns the engine's previous count.</summary>
    internal static int UseThreads(int threads)
    {
        int previous = EngineKernels.Threads, count = threads == 0 ? Environment.ProcessorCount : threads;
        EngineKernels.Threads = count;
        set_num_threads(count);
        return previous;
    }

    /// <summary>Releases the network and its tensors.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        UseThreads(_previousThreads);
        _networkState.Dispose();
        _network.Dispose();
        _token.Dispose();
    }

    /// <summary>The float32 TorchSharp network, one recurrent step.</summary>
    [Benchmark(Baseline = true)]
    public float TorchSharpFloat32()
    {
        using var scope = NewDisposeScope();
        return _network.ForwardStep(_token, _networkState)[0, 0].item<float>();
    }

    /// <summary>The engine on the float32 model, one step.</summary>
    [Benchmark]
    public float EngineFloat32()
    {
        _fullEngine.Step(65, _fullState, _logits);
        return _logits[0];
    }

    /// <summary>The engine on the RTN 3-bit g64 model (FP16 embedding and head), one step from the packed weights.</summary>
    [Benchmark]
    public float EngineQuantized()
    {
        _quantizedEngine.Step(65, _quantizedState, _logits);
        return _logits[0];
    }

    private sealed class TokensConfig : ManualConfig
    {
        public TokensConfig() => AddColumn(new WorkPerSecondColumn("Tokens/s", _ => 1));
    }
}
