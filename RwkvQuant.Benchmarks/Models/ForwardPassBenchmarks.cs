using BenchmarkDotNet.Attributes;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using static TorchSharp.torch;

namespace RwkvQuant.Benchmarks.Models;

/// <summary>
/// Tokens per second of the float32 forward pass on the rwkv.cpp fixtures: recurrent mode (one token with a carried
/// state, the generation path; the baseline) against sequence mode (a batch of sequences at once, the calibration and
/// evaluation path). Needs <c>../shared/fixtures</c> (or <c>RWKVQUANT_FIXTURES</c>).
/// </summary>
[MemoryDiagnoser]
public class ForwardPassBenchmarks
{
    private const int SequenceLength = 64;
    private const int BatchSize = 8;

    private RwkvNetwork _network = null!;
    private RwkvState _state = null!;
    private Tensor _token = null!;
    private Tensor _batch = null!;

    /// <summary>The fixture model.</summary>
    [Params("tiny-rwkv-6v0-1m-FP32.bin", "tiny-rwkv-7v0-834K-FP32.bin")]
    public string Model { get; set; } = "";

    /// <summary>Loads the model and builds the inputs.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _network = RwkvNetwork.Create(RwkvModelFile.Load(FixturePath.Find("rwkvcpp", Model)));
        _state = _network.CreateState(1);
        _token = tensor(new long[] { 65 });
        var random = new Random(7);
        _batch = tensor(Enumerable.Range(0, BatchSize * SequenceLength).Select(_ => (long)random.Next(256)).ToArray(), [BatchSize, SequenceLength]);
    }

    /// <summary>Releases the network and inputs.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _state.Dispose();
        _network.Dispose();
        _token.Dispose();
        _batch.Dispose();
    }

    /// <summary>One token in recurrent mode (the generation path).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = 1)]
    public float RecurrentToken()
    {
        using var scope = NewDisposeScope();
        return _network.ForwardStep(_token, _state)[0, 0].item<float>();
    }

    /// <summary>A batch of 8 × 64 tokens in sequence mode; reported per token.</summary>
    [Benchmark(OperationsPerInvoke = BatchSize * SequenceLength)]
    public float SequenceBatchPerToken()
    {
        using var scope = NewDisposeScope();
        return _network.Forward(_batch)[0, 0, 0].item<float>();
    }
}
