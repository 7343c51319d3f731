using BenchmarkDotNet.Attributes;
using RwkvQuant.DefaultModel;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using static TorchSharp.torch;

namespace RwkvQuant.Benchmarks.Models;

/// <summary>
/// The sequence-mode forward pass (the calibration path) with its WKV as the per-token torch loop (baseline) against
/// the SIMD kernel (<see cref="KernelWkv"/>): a batch of 8 × 512 tokens through the embedded default model (RWKV-7,
/// 4 × 256, N = 32) and the rwkv.cpp v6/v7 fixtures. Needs <c>../shared/fixtures</c> for the fixtures.
/// </summary>
[MemoryDiagnoser]
public class SequenceWkvBenchmarks
{
    private const int BatchSize = 8, SequenceLength = 512;

    private RwkvNetwork _network = null!;
    private Tensor _batch = null!;

    /// <summary>"default" (the embedded model) or an rwkv.cpp fixture file.</summary>
    [Params("default", "tiny-rwkv-6v0-1m-FP32.bin", "tiny-rwkv-7v0-834K-FP32.bin")]
    public string Model { get; set; } = "";

    /// <summary>Loads the model and draws the tokens.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _network = RwkvNetwork.Create(Model == "default" ? EmbeddedModel.Load() : RwkvModelFile.Load(FixturePath.Find("rwkvcpp", Model)));
        var random = new Random(7);
        _batch = tensor(Enumerable.Range(0, BatchSize * SequenceLength).Select(_ => (long)random.Next(256)).ToArray(), [BatchSize, SequenceLength]);
    }

    /// <summary>Releases the network and the tokens.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _network.Dispose();
        _batch.Dispose();
    }

    /// <summary>The forward pass with the per-token torch loop (what every forward pass ran before the kernel path).</summary>
    [Benchmark(Baseline = true)]
    public float TorchLoop()
    {
        using IDisposable torchLoop = KernelWkv.UseTorchLoop();
        return Forward();
    }

    /// <summary>The forward pass with the WKV on the SIMD kernel.</summary>
    [Benchmark]
    public float Kernel() => Forward();

    private float Forward()
    {
        using var scope = NewDisposeScope();
        return _network.Forward(_batch)[0, 0, 0].item<float>();
    }
}
