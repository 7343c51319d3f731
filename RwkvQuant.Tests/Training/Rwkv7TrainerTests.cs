using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Training;

[Collection(TorchThreadCount.Name)]
public sealed class Rwkv7TrainerTests(ITestOutputHelper output) : IDisposable
{
    private static readonly string[] Text =
    [
        "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.",
        "Initializes a new instance of the String class. Returns a value that indicates whether the handle is invalid.",
        "The quick brown fox jumps over the lazy dog again, and the dog does not mind at all.",
    ];

    private static readonly string[] Held = ["Gets a value that indicates whether the quick brown fox is invalid."];

    /// <summary>A tiny model: 2 layers × 32, head size 16, windows of 32 bytes.</summary>
    private static readonly Rwkv7TrainingOptions Tiny = new()
    {
        Layers = 2, Width = 32, HeadSize = 16, ContextLength = 32, BatchSize = 8, Steps = 40,
        LearningRate = 1e-2, FinalLearningRate = 1e-3, WarmupSteps = 4, Seed = 7,
        LogInterval = 5, ValidationInterval = 20, ValidationWindows = 8, CheckpointInterval = 20,
    };

    private readonly string _directory = Directory.CreateTempSubdirectory("rwkvquant-train-").FullName;

    private readonly SingleTorchThread _thread = new();

    public void Dispose()
    {
        _thread.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private string Folder(string name) => Path.Combine(_directory, name);

    [Fact]
    public void A_tiny_model_learns_a_fixed_text()
    {
        TrainingResult result = Rwkv7Trainer.Train(Text, Held, Tiny, Folder("run"));
        double first = result.Log[0].TrainBitsPerByte, last = result.Log[^1].TrainBitsPerByte;
        output.WriteLine($"train bpb {first:F3} -> {last:F3}; validation {result.ValidationBitsPerByte:F3}");
        Assert.True(first > 5, $"the first row (steps 1-5) should be far above the end, got {first}");
        Assert.True(last < first - 2.5, $"the training loss should fall clearly: {first} -> {last}");
        Assert.True(result.ValidationBitsPerByte < 6, $"validation {result.ValidationBitsPerByte}");
        Assert.Equal(40, result.Steps);

        // The folder holds a loadable FP16 model, the checkpoint and the CSV log.
        RwkvModel saved = RwkvModelFile.Load(result.ModelPath);
        Assert.Equal(Rwkv7TrainingModel.ConfigFor(2, 32, 16), saved.Config);
        Assert.True(File.Exists(Path.Combine(Folder("run"), Rwkv7Trainer.CheckpointFileName)));
        string[] csv = File.ReadAllLines(Path.Combine(Folder("run"), Rwkv7Trainer.LogFileName));
        Assert.Equal("step,learning_rate,train_bpb,validation_bpb,tokens,elapsed_seconds", csv[0]);
        Assert.Equal(result.Log.Count + 1, csv.Length);
    }

    [Fact]
    public void Cancelling_and_resuming_gives_the_same_weights_as_an_uninterrupted_run()
    {
        Rwkv7TrainingOptions options = Tiny with { Steps = 12, CheckpointInterval = 4, ValidationInterval = 6 };
        TrainingResult straight = Rwkv7Trainer.Train(Text, Held, options, Folder("straight"));

        using var cancellation = new CancellationTokenSource();
        var stopAfterSix = new Reporter(p =>
        {
            if (p.Step == 6)
                cancellation.Cancel();
        });
        Assert.Throws<OperationCanceledException>(() =>
            Rwkv7Trainer.Train(Text, Held, options, Folder("resumed"), progress: stopAfterSix, cancellationToken: cancellation.Token));
        Assert.Equal(4, TrainingCheckpoint.Load(Path.Combine(Folder("resumed"), Rwkv7Trainer.CheckpointFileName)).Step); // the last good one

        TrainingResult resumed = Rwkv7Trainer.Train(Text, Held, options, Folder("resumed"), resume: true);
        foreach ((string name, var tensor) in straight.Model.Tensors)
            Assert.True(tensor.Bytes.SequenceEqual(resumed.Model[name].Bytes), $"{name} differs after resuming");
        Assert.Equal(straight.ValidationBitsPerByte, resumed.ValidationBitsPerByte);
        Assert.Equal(straight.Log.Select(e => (e.Step, e.TrainBitsPerByte, e.ValidationBitsPerByte)),
            resumed.Log.Select(e => (e.Step, e.TrainBitsPerByte, e.ValidationBitsPerByte)));
    }

    [Fact]
    public void Resuming_refuses_another_run_and_a_fresh_start_refuses_an_existing_checkpoint()
    {
        Rwkv7TrainingOptions options = Tiny with { Steps = 2, CheckpointInterval = 2, ValidationWindows = 1 };
        Rwkv7Trainer.Train(Text, Held, options, Folder("run"));
        Assert.Throws<InvalidOperationException>(() => Rwkv7Trainer.Train(Text, Held, options, Folder("run")));
        var error = Assert.Throws<InvalidOperationException>(() => Rwkv7Trainer.Train(Text, Held, options with { Width = 48 }, Folder("run"), resume: true));
        Assert.Contains("width", error.Message, StringComparison.Ordinal);
        Assert.Throws<FileNotFoundException>(() => Rwkv7Trainer.Train(Text, Held, options, Folder("none"), resume: true));
    }

    [Fact]
    public void The_training_module_computes_what_Rwkv7Network_computes()
    {
        using Rwkv7TrainingModel model = Rwkv7TrainingModel.Initialize(Rwkv7TrainingModel.ConfigFor(3, 32, 8), seed: 3);
        // Every tensor perturbed, so that zero-initialised matrices (output, LoRA factors) take part too.
        using (no_grad())
        {
            var generator = new Generator(11);
            foreach (var p in model.Parameters.Values)
                p.add_(randn(p.shape, generator: generator) * 0.2);
        }
        using var scope = NewDisposeScope();
        var tokens = tensor(Enumerable.Range(0, 2 * 19).Select(i => (long)((i * 37 + 11) % 256)).ToArray(), [2, 19]);
        float[] training;
        using (no_grad())
            training = model.Forward(tokens).data<float>().ToArray();
        using RwkvNetwork network = RwkvNetwork.Create(model.ToModel());
        float[] inference = network.Forward(tokens).data<float>().ToArray();

        double maxDifference = training.Zip(inference, (a, b) => Math.Abs(a - b)).Max();
        double scale = inference.Max(Math.Abs);
        output.WriteLine($"max |training − network| = {maxDifference:E3} (logits up to {scale:F2})");
        Assert.True(scale > 0.5, "the logits should not be trivially small");
        Assert.True(maxDifference < 1e-4 * Math.Max(1, scale), $"max difference {maxDifference}");
    }

    [Fact]
    public void Initial_weights_have_the_canonical_shapes_and_depend_only_on_the_seed()
    {
        RwkvConfig config = Rwkv7TrainingModel.ConfigFor(2, 64, 32);
        using Rwkv7TrainingModel a = Rwkv7TrainingModel.Initialize(config, seed: 5);
        using Rwkv7TrainingModel b = Rwkv7TrainingModel.Initialize(config, seed: 5);
        using Rwkv7TrainingModel c = Rwkv7TrainingModel.Initialize(config, seed: 6);
        RwkvModel ma = a.ToModel(), mb = b.ToModel(), mc = c.ToModel();
        Assert.All(ma.Tensors, t => Assert.True(t.Value.Bytes.SequenceEqual(mb[t.Key].Bytes), t.Key));
        Assert.False(ma["head.weight"].Bytes.SequenceEqual(mc["head.weight"].Bytes));

        // Config inference sees the same architecture, BlinkDL's shapes: vectors (1, 1, C), r_k (H, N), LoRA (C, D) / (D, C).
        Assert.Equal(config, RwkvConfigInference.Infer(ma.Tensors, "init"));
        Assert.Equal([1L, 1, 64], ma["blocks.1.att.x_r"].Shape);
        Assert.Equal([2L, 32], ma["blocks.0.att.r_k"].Shape);
        Assert.Equal([64L, 32], ma["blocks.0.att.w1"].Shape);
        Assert.False(ma.Tensors.ContainsKey("blocks.0.att.v0")); // layer 0 has no value residual
        Assert.Equal([1L, 1, 64], ma["blocks.1.att.v0"].Shape);
    }

    [Theory]
    [InlineData(768, 1.8, 0.5, 64)]  // RWKV-7 0.1B: decay and a LoRA ranks
    [InlineData(768, 1.3, 0.5, 32)]  // value residual
    [InlineData(768, 0.6, 0.8, 128)] // gate
    [InlineData(256, 0.6, 0.8, 64)]
    [InlineData(32, 1.8, 0.5, 32)]   // never below 32
    public void LoRA_ranks_follow_BlinkDLs_suggestion(int width, double factor, double power, int expected) =>
        Assert.Equal(expected, Rwkv7TrainingModel.LoraRank(width, factor, power));

    [Fact]
    public void Options_are_validated_and_the_schedule_warms_up_then_decays()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Rwkv7TrainingOptions { Layers = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new Rwkv7TrainingOptions { LearningRate = 0 });
        Assert.Throws<ArgumentException>(() => new Rwkv7TrainingOptions { Width = 100, HeadSize = 32 }.Validate());
        var options = new Rwkv7TrainingOptions { Steps = 110, WarmupSteps = 10, LearningRate = 1e-3, FinalLearningRate = 1e-4 };
        Assert.Equal(1e-4, options.LearningRateAt(1), 12);
        Assert.Equal(1e-3, options.LearningRateAt(10), 12);
        Assert.Equal(5.5e-4, options.LearningRateAt(60), 12);
        Assert.Equal(1e-4, options.LearningRateAt(110), 12);
    }

    private sealed class Reporter(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
