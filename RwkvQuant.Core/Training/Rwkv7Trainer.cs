using System.Diagnostics;
using System.Globalization;
using System.Text;
using RwkvQuant.Formats;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using TorchSharp;
using static RwkvQuant.Native.TorchScalars;
using static TorchSharp.torch;

namespace RwkvQuant.Training;

/// <summary>
/// Trains a byte-level RWKV-7 (vocabulary 256, UTF-8 bytes) from scratch on CPU with TorchSharp: cross-entropy of the
/// next byte over windows of <see cref="Rwkv7TrainingOptions.ContextLength"/> bytes from the zero state, AdamW with a
/// warm-up and cosine schedule, global gradient clipping. Seeded: the initial weights and every step's windows depend on
/// the seed and step number only, so a run resumed from a checkpoint reaches the same weights as an uninterrupted one.
/// Writes into the output folder: <see cref="CheckpointFileName"/> (weights, optimizer state, step, log; atomically
/// replaced every <see cref="Rwkv7TrainingOptions.CheckpointInterval"/> steps), <see cref="ModelFileName"/> (the
/// weights as FP16 safetensors, loadable by <see cref="RwkvModelFile.Load"/>) and <see cref="LogFileName"/> (CSV).
/// Cancelling stops between steps and leaves the last checkpoint as it was.
/// </summary>
public static class Rwkv7Trainer
{
    /// <summary>The checkpoint file in the output folder.</summary>
    public const string CheckpointFileName = "checkpoint.safetensors";

    /// <summary>
    /// The options the run in <paramref name="outputDirectory"/> was started with, read from its checkpoint's header
    /// (layers, width, head size, context, batch, seed, schedule and intervals), so that a resumed run needs none of them
    /// repeated.
    /// </summary>
    /// <exception cref="FileNotFoundException">The folder holds no checkpoint.</exception>
    /// <exception cref="InvalidDataException">The checkpoint is not one this trainer wrote (the message names it).</exception>
    public static Rwkv7TrainingOptions ReadCheckpointOptions(string outputDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(outputDirectory);
        string path = Path.Combine(outputDirectory, CheckpointFileName);
        if (!File.Exists(path))
            throw new FileNotFoundException($"There is no checkpoint to resume from in '{outputDirectory}'.", path);
        return TrainingCheckpoint.ReadOptions(path);
    }

    /// <summary>The trained weights (FP16 safetensors) in the output folder, rewritten at every checkpoint.</summary>
    public const string ModelFileName = "model.safetensors";

    /// <summary>The CSV log in the output folder, rewritten at every checkpoint.</summary>
    public const string LogFileName = "training-log.csv";

    /// <summary>
    /// Trains on <paramref name="trainDocuments"/>, validating on <paramref name="validationDocuments"/>, writing into
    /// <paramref name="outputDirectory"/>. With <paramref name="resume"/> the run continues from the folder's
    /// checkpoint (its architecture, context, batch and seed must match <paramref name="options"/>; the step count and
    /// schedule may be extended); without it the folder must not hold a checkpoint.
    /// </summary>
    /// <exception cref="ArgumentException">The options are inconsistent, or a text is shorter than one window.</exception>
    /// <exception cref="InvalidOperationException">A checkpoint exists and <paramref name="resume"/> is false, or the
    /// checkpoint's run differs from <paramref name="options"/>, or the loss stopped being finite.</exception>
    /// <exception cref="FileNotFoundException"><paramref name="resume"/> is true and there is no checkpoint.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; the last checkpoint is left as it was.</exception>
    public static TrainingResult Train(IReadOnlyList<string> trainDocuments, IReadOnlyList<string> validationDocuments,
        Rwkv7TrainingOptions options, string outputDirectory, bool resume = false,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trainDocuments);
        ArgumentNullException.ThrowIfNull(validationDocuments);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(outputDirectory);
        options.Validate();
        var train = new ByteWindows(trainDocuments, options.ContextLength, "training");
        var validation = new ByteWindows(validationDocuments, options.ContextLength, "validation");
        Directory.CreateDirectory(outputDirectory);
        string checkpointPath = Path.Combine(outputDirectory, CheckpointFileName);

        TrainingCheckpoint? checkpoint = null;
        if (resume)
        {
            if (!File.Exists(checkpointPath))
                throw new FileNotFoundException($"There is no checkpoint to resume from in '{outputDirectory}'.", checkpointPath);
            checkpoint = TrainingCheckpoint.Load(checkpointPath);
            EnsureSameRun(checkpoint.Options, options, checkpointPath);
        }
        else if (File.Exists(checkpointPath))
        {
            throw new InvalidOperationException($"'{outputDirectory}' already holds a training checkpoint; resume it or choose another folder.");
        }

        RwkvConfig config = Rwkv7TrainingModel.ConfigFor(options.Layers, options.Width, options.HeadSize);
        using Rwkv7TrainingModel model = checkpoint is null
            ? Rwkv7TrainingModel.Initialize(config, options.Seed)
            : Rwkv7TrainingModel.FromModel(checkpoint.Model);
        using var optimizer = new AdamW(model.Parameters, options,
            decays: name => name.EndsWith(".weight", StringComparison.Ordinal) && model.Parameters[name].dim() == 2,
            rateMultiplier: name => name.EndsWith("att.w0", StringComparison.Ordinal) ? 2.0 : 1.0); // BlinkDL: w0 at 2× lr
        if (checkpoint is not null)
            optimizer.Restore(checkpoint.Step, name => checkpoint.Moments[name]);

        var log = new List<TrainingLogEntry>(checkpoint?.Log ?? []);
        double previousSeconds = checkpoint?.ElapsedSeconds ?? 0;
        double? lastValidation = log.LastOrDefault(e => e.ValidationBitsPerByte is not null)?.ValidationBitsPerByte;
        int firstStep = optimizer.StepCount + 1;
        var clock = Stopwatch.StartNew();
        double lossSinceRow = checkpoint?.PendingLossSum ?? 0;
        int stepsSinceRow = checkpoint?.PendingSteps ?? 0;
        long tokensPerStep = (long)options.BatchSize * options.ContextLength;

        for (int step = firstStep; step <= options.Steps; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            double learningRate = options.LearningRateAt(step);
            double bits = TrainStep(model, optimizer, train.TrainingBatch(options.Seed, step, options.BatchSize), options, learningRate);
            if (!double.IsFinite(bits))
                throw new InvalidOperationException($"The training loss is not finite at step {step}; the last checkpoint in '{outputDirectory}' is intact. Try a lower learning rate.");
            lossSinceRow += bits;
            stepsSinceRow++;

            bool last = step == options.Steps;
            bool validate = step % options.ValidationInterval == 0 || last;
            double? validationBits = null;
            if (validate)
            {
                validationBits = Validate(model, validation, options);
                lastValidation = validationBits;
            }
            if (validate || step % options.LogInterval == 0)
            {
                log.Add(new TrainingLogEntry(step, learningRate, lossSinceRow / stepsSinceRow, validationBits,
                    step * tokensPerStep, previousSeconds + clock.Elapsed.TotalSeconds));
                lossSinceRow = 0;
                stepsSinceRow = 0;
            }
            if (step % options.CheckpointInterval == 0 || last)
                SaveCheckpoint(outputDirectory, model, optimizer, options, previousSeconds + clock.Elapsed.TotalSeconds, log, lossSinceRow, stepsSinceRow);
            progress?.Report(new TrainingProgress(step, options.Steps, learningRate, bits, lastValidation,
                clock.Elapsed.TotalSeconds / (step - firstStep + 1), log.ToArray()));
        }

        if (firstStep > options.Steps && lastValidation is null)
            lastValidation = Validate(model, validation, options);
        return new TrainingResult(model.ToModel(), Math.Max(options.Steps, firstStep - 1), lastValidation ?? double.NaN, log,
            Path.Combine(outputDirectory, ModelFileName));
    }

    /// <summary>One optimizer step on <paramref name="windows"/> (<c>[B, T + 1]</c> flattened); returns the loss in bits per byte.</summary>
    private static double TrainStep(Rwkv7TrainingModel model, AdamW optimizer, long[] windows, Rwkv7TrainingOptions options, double learningRate)
    {
        using var scope = NewDisposeScope();
        (Tensor inputs, Tensor targets) = Split(windows, options);
        foreach (Tensor p in model.Parameters.Values)
            p.grad?.zero_();
        Tensor logits = model.Forward(inputs);
        Tensor loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), targets.reshape(-1));
        loss.backward();
        ClipGradients(model, options.GradientClip);
        optimizer.Step(learningRate);
        return loss.item<float>() / Math.Log(2);
    }

    /// <summary>Scales all gradients by clip / ‖g‖ when the global L2 norm ‖g‖ exceeds <paramref name="clip"/>.</summary>
    private static void ClipGradients(Rwkv7TrainingModel model, double clip)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor[] grads = model.Parameters.Values.Select(p => p.grad).OfType<Tensor>().ToArray();
        double squares = 0;
        foreach (Tensor g in grads) // a loop, not a lambda: the scope above holds the temporaries of this thread only
            squares += g.pow(Two).sum().item<float>();
        double norm = Math.Sqrt(squares);
        if (norm > clip)
        {
            using var scale = (clip / (norm + 1e-6)).ToScalar();
            foreach (Tensor g in grads)
                g.mul_(scale);
        }
    }

    /// <summary>Mean next-byte cross-entropy over the evenly spread validation windows, in bits per byte.</summary>
    private static double Validate(Rwkv7TrainingModel model, ByteWindows validation, Rwkv7TrainingOptions options)
    {
        double totalNats = 0;
        long count = 0;
        foreach ((long[] values, int windows) in validation.EvenBatches(options.ValidationWindows, options.BatchSize))
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            (Tensor inputs, Tensor targets) = Split(values, options, windows);
            Tensor logits = model.Forward(inputs);
            totalNats += nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), targets.reshape(-1),
                reduction: nn.Reduction.Sum).item<float>();
            count += targets.numel();
        }
        return totalNats / count / Math.Log(2);
    }

    private static (Tensor Inputs, Tensor Targets) Split(long[] windows, Rwkv7TrainingOptions options, int? count = null)
    {
        int width = options.ContextLength + 1;
        Tensor all = tensor(windows, [count ?? options.BatchSize, width], ScalarType.Int64);
        return (all.narrow(1, 0, options.ContextLength), all.narrow(1, 1, options.ContextLength));
    }

    private static void SaveCheckpoint(string directory, Rwkv7TrainingModel model, AdamW optimizer, Rwkv7TrainingOptions options,
        double elapsedSeconds, IReadOnlyList<TrainingLogEntry> log, double pendingLossSum, int pendingSteps)
    {
        // The checkpoint first: the model and log files are derived from it and only ever lag behind it.
        TrainingCheckpoint.Save(Path.Combine(directory, CheckpointFileName), model, optimizer, options, elapsedSeconds, log, pendingLossSum, pendingSteps);
        RwkvModelFile.SaveSafetensors(model.ToModel(), Path.Combine(directory, ModelFileName), TensorDataType.F16);
        WriteLog(Path.Combine(directory, LogFileName), log);
    }

    /// <summary>Writes <paramref name="log"/> as CSV (invariant culture; an empty validation cell where none was taken), atomically.</summary>
    internal static void WriteLog(string path, IReadOnlyList<TrainingLogEntry> log)
    {
        ArgumentNullException.ThrowIfNull(log);
        var csv = new StringBuilder("step,learning_rate,train_bpb,validation_bpb,tokens,elapsed_seconds\n");
        foreach (TrainingLogEntry e in log)
        {
            csv.Append(CultureInfo.InvariantCulture,
                $"{e.Step},{e.LearningRate:G6},{e.TrainBitsPerByte:F5},{(e.ValidationBitsPerByte is { } v ? v.ToString("F5", CultureInfo.InvariantCulture) : "")},{e.Tokens},{e.ElapsedSeconds:F1}\n");
        }
        byte[] bytes = Encoding.UTF8.GetBytes(csv.ToString());
        AtomicFile.Write(path, stream => stream.Write(bytes));
    }

    private static void EnsureSameRun(Rwkv7TrainingOptions saved, Rwkv7TrainingOptions wanted, string path)
    {
        var differences = new List<string>();
        void Check<T>(string name, T a, T b)
        {
            if (!EqualityComparer<T>.Default.Equals(a, b))
                differences.Add($"{name} {a} (checkpoint) vs {b}");
        }
        Check("layers", saved.Layers, wanted.Layers);
        Check("width", saved.Width, wanted.Width);
        Check("head size", saved.HeadSize, wanted.HeadSize);
        Check("context", saved.ContextLength, wanted.ContextLength);
        Check("batch", saved.BatchSize, wanted.BatchSize);
        Check("seed", saved.Seed, wanted.Seed);
        if (differences.Count > 0)
            throw new InvalidOperationException($"{path}: the checkpoint is of another run ({string.Join("; ", differences)}).");
    }
}
