using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using RwkvQuant.Benchmarks.Kernels.KMeans;
using RwkvQuant.Inference;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;

namespace RwkvQuant.Benchmarks.Inference;

/// <summary>
/// Prompt processing: a prompt of <see cref="PromptLength"/> tokens per operation (<c>Tokens/s</c> = prompt tokens / t),
/// fed token by token (<see cref="RwkvEngine.Step(int, RwkvEngineState, Span{float})"/>, the baseline) against
/// <see cref="RwkvEngine.Prefill"/> (runs of tokens through every product at once, the head on the last token only), on
/// the float32 and the RTN 3-bit g64 engine of the same models as <see cref="DecodingBenchmarks"/>.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(PromptTokensConfig))]
public class PrefillBenchmarks
{
    /// <summary>Tokens per prompt.</summary>
    public const int PromptLength = 128;

    private RwkvEngine _fullEngine = null!, _quantizedEngine = null!;
    private int[] _prompt = [];
    private float[] _logits = [];

    /// <summary>The model: the synthetic RWKV-7 or an rwkv.cpp fixture.</summary>
    [Params(DecodingBenchmarks.Synthetic, DecodingBenchmarks.Default, "tiny-rwkv-6v0-1m-FP32.bin", "tiny-rwkv-7v0-834K-FP32.bin")]
    public string Model { get; set; } = "";

    /// <summary>Threads per product: 1, or 0 for every processor.</summary>
    [Params(1, 0)]
    public int Threads { get; set; }

    private int _previousThreads;

    /// <summary>Builds (or loads) the model, quantizes it and creates both engines.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _previousThreads = DecodingBenchmarks.UseThreads(Threads);
        (RwkvModel model, QuantizedModel quantized) = DecodingBenchmarks.Models(Model);
        _fullEngine = RwkvEngine.Create(model);
        _quantizedEngine = RwkvEngine.Create(quantized);
        _prompt = [.. Enumerable.Range(0, PromptLength).Select(i => (i * 37 + 5) % model.Config.VocabularySize)];
        _logits = new float[model.Config.VocabularySize];
    }

    /// <summary>Puts the thread count back.</summary>
    [GlobalCleanup]
    public void Cleanup() => DecodingBenchmarks.UseThreads(_previousThreads);

    /// <summary>The float32 engine, the prompt one step at a time.</summary>
    [Benchmark(Baseline = true)]
    public float Float32Stepped() => Stepped(_fullEngine);

    /// <summary>The float32 engine, the prompt prefilled.</summary>
    [Benchmark]
    public float Float32Prefill() => _fullEngine.Prefill(_prompt, _fullEngine.CreateState())[0];

    /// <summary>The quantized engine, the prompt one step at a time.</summary>
    [Benchmark]
    public float QuantizedStepped() => Stepped(_quantizedEngine);

    /// <summary>The quantized engine, the prompt prefilled.</summary>
    [Benchmark]
    public float QuantizedPrefill() => _quantizedEngine.Prefill(_prompt, _quantizedEngine.CreateState())[0];

    private float Stepped(RwkvEngine engine)
    {
        RwkvEngineState state = engine.CreateState();
        foreach (int token in _prompt)
            engine.Step(token, state, _logits);
        return _logits[0];
    }

    private sealed class PromptTokensConfig : ManualConfig
    {
        public PromptTokensConfig() => AddColumn(new WorkPerSecondColumn("Tokens/s", _ => PromptLength));
    }
}
