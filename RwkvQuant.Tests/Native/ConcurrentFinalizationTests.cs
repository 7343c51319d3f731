using RwkvQuant.Evaluation;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Models;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar.Gptq;
using RwkvQuant.Tests.Scalar;
using RwkvQuant.Tokenizers;
using RwkvQuant.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Native;

/// <summary>
/// The library's TorchSharp work on several threads while another thread collects garbage and runs finalizers
/// without pause. A TorchSharp <c>Scalar</c> made by an implicit conversion (<c>x * 0.5</c>, <c>a + b</c>, which passes
/// alpha = 1) is unreachable while the native call that reads it runs, so a finalizer can free it under libtorch:
/// "INTERNAL ASSERT FAILED at c10/core/Scalar.h", or a wrong value. Every result must equal a quiet run on one fresh
/// thread to 1e-5 of its largest magnitude (see <see cref="Tolerance"/>). On the code before the library stopped making such Scalars this failed in
/// every one of 5 tries at 8 rounds (2 of 6 at 4 rounds, 0 of 3 at 3).
/// With Core compiled optimised it also found the temporaries of chained calls made outside a dispose scope (v5's
/// network construction): referenced only by the native call they were passed to, they were finalized under libtorch
/// (crashes in THSTensor_neg and add). It runs in the non-parallel collection, alone, so that its forced collections
/// meet only its own workload.
/// </summary>
[Collection(TorchThreadCount.Name)]
public sealed class ConcurrentFinalizationTests(ITestOutputHelper output)
{
    private const int Workers = 3;
    private const int Rounds = 8;

    /// <summary>
    /// |Δ| allowed in every result, relative to its largest magnitude. Results are usually bit for bit equal, but not
    /// always: in full parallel suite runs the trained weights once, and a v4 forward pass twice (1.4e-6 at |9.98|,
    /// about one ulp), differed from the quiet run, the signature of reductions split differently by libtorch's
    /// intra-op threads while other tests load the machine. A freed Scalar gives an exception, a crash or a grossly
    /// wrong alpha instead.
    /// </summary>
    private const float Tolerance = 1e-5f;

    private static readonly string[] Networks =
        ["4v0-660K", "5v1-730K", "5v2-730K", "6v0-1m", "7v0-834K"];

    private static readonly string[] TrainText =
    [
        "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.",
        "Initializes a new instance of the String class. Returns a value that indicates whether the handle is invalid.",
    ];

    private static readonly Rwkv7TrainingOptions TinyTraining = new()
    {
        Layers = 1, Width = 32, HeadSize = 16, ContextLength = 16, BatchSize = 2, Steps = 2,
        LearningRate = 1e-2, FinalLearningRate = 1e-3, WarmupSteps = 1, Seed = 3,
        LogInterval = 1, ValidationInterval = 2, ValidationWindows = 2, CheckpointInterval = 2,
    };

    [FixtureFact]
    public void Workloads_on_several_threads_under_constant_finalization_equal_a_quiet_single_threaded_run()
    {
        RwkvModel[] models = Networks.Select(tag => GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", $"tiny-rwkv-{tag}-FP32.bin"))).ToArray();
        TensorData weight = ScalarTestData.Weight(11, 24, 96);
        Hessian h = ScalarTestData.CorrelatedHessian(12, 96);
        string root = Directory.CreateTempSubdirectory("rwkvquant-finalization-").FullName;
        try
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            float[][] expected = [];
            var quiet = new Thread(() => expected = Workload(models, weight, h, Path.Combine(root, "quiet")));
            quiet.Start();
            quiet.Join();
            output.WriteLine($"one quiet round: {watch.ElapsedMilliseconds} ms");

            using var done = new CancellationTokenSource();
            long collections = 0;
            var collector = new Thread(() =>
            {
                while (!done.IsCancellationRequested)
                {
                    GC.Collect(0);
                    GC.WaitForPendingFinalizers();
                    collections++;
                }
            }) { IsBackground = true };
            collector.Start();

            watch.Restart();
            var failures = new List<string>();
            var workers = Enumerable.Range(0, Workers).Select(w => new Thread(() =>
            {
                try
                {
                    for (int round = 0; round < Rounds; round++)
                    {
                        float[][] actual = Workload(models, weight, h, Path.Combine(root, $"w{w}r{round}"));
                        for (int i = 0; i < expected.Length; i++)
                        {
                            string? difference = Compare(expected[i], actual[i]);
                            if (difference is not null)
                                lock (failures) failures.Add($"worker {w} round {round}: result {i} {difference}");
                        }
                    }
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    lock (failures) failures.Add($"worker {w}: {e.GetType().Name}: {e.Message}");
                }
            })).ToArray();
            foreach (Thread t in workers)
                t.Start();
            foreach (Thread t in workers)
                t.Join();
            done.Cancel();
            collector.Join();
            output.WriteLine($"{Workers} workers × {Rounds} rounds: {watch.ElapsedMilliseconds} ms, {collections} collections");
            Assert.True(failures.Count == 0, string.Join("\n", failures));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>Null when equal (bit for bit, or within <see cref="Tolerance"/>), else how they differ.</summary>
    private static string? Compare(float[] expected, float[] actual)
    {
        if (expected.AsSpan().SequenceEqual(actual))
            return null;
        if (expected.Length != actual.Length)
            return $"has {actual.Length} values, expected {expected.Length}";
        float largest = 0, difference = 0;
        for (int j = 0; j < expected.Length; j++)
        {
            largest = Math.Max(largest, Math.Abs(expected[j]));
            difference = float.IsNaN(actual[j]) ? float.PositiveInfinity : Math.Max(difference, Math.Abs(expected[j] - actual[j]));
        }
        return difference <= Tolerance * largest
            ? null
            : $"differs by up to {difference:G3} (largest |value| {largest:G3})";
    }

    /// <summary>Forward passes of v4–v7, a GPTQ quantization, a perplexity evaluation and two training steps.</summary>
    private static float[][] Workload(RwkvModel[] models, TensorData weight, Hessian h, string trainFolder)
    {
        var results = new List<float[]>();
        foreach (RwkvModel model in models)
        {
            using RwkvNetwork network = RwkvNetwork.Create(model);
            using (var scope = NewDisposeScope())
            {
                Tensor tokens = tensor(Models.NetworkChecks.Batch, [2, 7]);
                results.Add(network.Forward(tokens).data<float>().ToArray());
            }
            int[][] documents = [[72, 101, 108, 108, 111], [87, 111, 114, 108, 100, 33, 10, 9], [1, 2, 3]];
            PerplexityResult perplexity = PerplexityEvaluator.Evaluate(network, documents, ByteTokenizer.Instance);
            results.Add([(float)perplexity.NegativeLogLikelihood]);
        }
        results.Add(new GptqQuantizer().Quantize(weight, h).Dequantize());
        TrainingResult trained = Rwkv7Trainer.Train(TrainText, TrainText, TinyTraining, trainFolder);
        results.Add(trained.Model["head.weight"].ToFloatArray());
        return [.. results];
    }
}
