using System.CommandLine;
using System.Globalization;
using RwkvQuant.Corpora;
using RwkvQuant.Training;
using Spectre.Console;
using TorchSharp;

namespace RwkvQuant.Cli.Commands;

/// <summary>
/// <c>rwkvquant train -o DIR</c>: trains a byte-level RWKV-7 on the .NET SDK's reference-pack documentation (train split;
/// validation split for the loss curve), with checkpoints, resume, a CSV log and a PNG of the loss curves.
/// </summary>
internal static class TrainCommand
{
    public static Command Create(CliContext context)
    {
        Rwkv7TrainingOptions d = Rwkv7TrainingOptions.Default;
        var output = new Option<DirectoryInfo>("--output", "-o") { Description = "Folder for the checkpoint, model.safetensors (FP16), training-log.csv and validation.png.", Required = true };
        var resume = new Option<bool>("--resume") { Description = "Continue from the folder's checkpoint with the run's own settings (layers, width, head size, context, batch, seed, schedule) read from it; --steps may be raised." };
        var layers = new Option<int>("--layers") { Description = "Blocks.", DefaultValueFactory = _ => d.Layers };
        var width = new Option<int>("--width") { Description = "Width of the residual stream.", DefaultValueFactory = _ => d.Width };
        var headSize = new Option<int>("--head-size") { Description = "Channels per head (divides the width).", DefaultValueFactory = _ => d.HeadSize };
        var contextLength = new Option<int>("--context") { Description = "Bytes per training window.", DefaultValueFactory = _ => d.ContextLength };
        var batch = new Option<int>("--batch") { Description = "Windows per step.", DefaultValueFactory = _ => d.BatchSize };
        var steps = new Option<int>("--steps") { Description = "Optimizer steps in all.", DefaultValueFactory = _ => d.Steps };
        var learningRate = new Option<double>("--lr") { Description = "Peak learning rate (after the warm-up).", DefaultValueFactory = _ => d.LearningRate };
        var finalLearningRate = new Option<double>("--final-lr") { Description = "Learning rate at the last step (cosine decay).", DefaultValueFactory = _ => d.FinalLearningRate };
        var warmup = new Option<int>("--warmup") { Description = "Linear warm-up steps.", DefaultValueFactory = _ => d.WarmupSteps };
        var seed = new Option<long>("--seed") { Description = "Seed of the initial weights and of the training windows.", DefaultValueFactory = _ => d.Seed };
        var validateEvery = new Option<int>("--validate-every") { Description = "Steps between validation losses.", DefaultValueFactory = _ => d.ValidationInterval };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Steps between checkpoints.", DefaultValueFactory = _ => d.CheckpointInterval };
        var documentation = new Option<DirectoryInfo?>("--corpus") { Description = "A ref/net10.0 folder of XML documentation to use instead of the one found through the SDK (the same option as on the other commands; --docs there selects documents)." };
        var command = new Command("train",
            "Train a byte-level RWKV-7 on the .NET reference-pack documentation (found through the SDK): checkpoints, resume, validation bits per byte, CSV log and PNG plot.")
        {
            output, resume, layers, width, headSize, contextLength, batch, steps, learningRate, finalLearningRate, warmup, seed,
            validateEvery, checkpointEvery, documentation,
        };
        context.Examples.Add(command,
            new("rwkvquant train -o run --steps 200", "A quick run at the default size (4 layers × 256)"),
            new("rwkvquant train -o run --layers 2 --width 64 --steps 100", "A tiny model"),
            new("rwkvquant train -o run --resume --steps 4000", "Continue (and extend) a run from its checkpoint; its settings come from the checkpoint"),
            new("rwkvquant train -o run --steps 200 --json", "The result as JSON, for scripts (progress on stderr)"));
        context.AddJson(command);
        context.AddThreads(command);
        command.SetAction((parse, cancellationToken) => context.RunAsync(parse, token =>
        {
            // Resuming takes the run's settings from its checkpoint; what is given on the command line overrides them
            // (and the trainer refuses a change that would make it another run, such as a different width).
            string outputDirectory = parse.GetRequiredValue(output).FullName;
            Rwkv7TrainingOptions start = parse.GetValue(resume) ? Rwkv7Trainer.ReadCheckpointOptions(outputDirectory) : d;
            T Pick<T>(Option<T> option, T fromStart) => parse.GetResult(option) is { Implicit: false } ? parse.GetValue(option)! : fromStart;
            var options = start with
            {
                Layers = Pick(layers, start.Layers),
                Width = Pick(width, start.Width),
                HeadSize = Pick(headSize, start.HeadSize),
                ContextLength = Pick(contextLength, start.ContextLength),
                BatchSize = Pick(batch, start.BatchSize),
                Steps = Pick(steps, start.Steps),
                LearningRate = Pick(learningRate, start.LearningRate),
                FinalLearningRate = Pick(finalLearningRate, start.FinalLearningRate),
                WarmupSteps = Pick(warmup, start.WarmupSteps),
                Seed = Pick(seed, start.Seed),
                ValidationInterval = Pick(validateEvery, start.ValidationInterval),
                CheckpointInterval = Pick(checkpointEvery, start.CheckpointInterval),
            };
            return Run(context, context.IsJson(parse), options, outputDirectory, parse.GetValue(resume),
                parse.GetValue(documentation)?.FullName, token);
        }, cancellationToken));
        return command;
    }

    /// <summary>What <c>train --json</c> writes.</summary>
    internal sealed record Report(int Layers, int Width, int HeadSize, int ContextLength, int BatchSize, long Parameters, int Steps,
        double? ValidationBitsPerByte, string ModelPath, string LogPath, string PlotPath, CorpusReport Corpus);

    internal sealed record CorpusReport(string Source, int Documents, long Bytes, int TrainingDocuments, int ValidationDocuments);

    private static int Run(CliContext context, bool json, Rwkv7TrainingOptions options, string outputDirectory, bool resume, string? docs,
        CancellationToken cancellationToken)
    {
        IAnsiConsole console = context.ProgressConsole(json);
        ReferencePackCorpus corpus = ReferencePackCorpus.Load(docs, cancellationToken);
        IReadOnlyList<string> train = corpus.Texts(CorpusSplit.Train), validation = corpus.Texts(CorpusSplit.Validation);
        console.MarkupLine(Markup.Escape(
            $"corpus: {corpus.Source}: {corpus.Documents.Count:N0} documents, {corpus.ByteCount / 1e6:F2} MB " +
            $"({train.Count:N0} training, {validation.Count:N0} validation documents)"));
        Directory.CreateDirectory(outputDirectory);
        string plotPath = Path.Combine(outputDirectory, TrainingPlot.FileName);
        string title = $"RWKV-7 {options.Layers} × {options.Width}, context {options.ContextLength}, batch {options.BatchSize}";
        int plottedRows = -1;
        void OnProgress(TrainingProgress p)
        {
            TrainingLogEntry? last = p.Log.Count > 0 ? p.Log[^1] : null;
            if (last is { ValidationBitsPerByte: not null } && last.Step == p.Step && p.Log.Count != plottedRows)
            {
                plottedRows = p.Log.Count;
                TrainingPlot.Write(plotPath, p.Log, title);
                if (!console.Profile.Capabilities.Interactive && !CliContext.IsQuiet)
                {
                    console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"step {p.Step}/{p.TotalSteps}  lr {p.LearningRate:G3}  train {last.TrainBitsPerByte:F4} bpb  validation {last.ValidationBitsPerByte:F4} bpb  {p.SecondsPerStep:F2} s/step"));
                }
            }
        }

        TrainingResult result;
        if (console.Profile.Capabilities.Interactive && !CliContext.IsQuiet)
        {
            result = console.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(progressContext =>
                {
                    ProgressTask task = progressContext.AddTask("training", maxValue: options.Steps);
                    var reporter = new SynchronousProgress<TrainingProgress>(p =>
                    {
                        OnProgress(p);
                        task.Value = p.Step;
                        string validated = p.ValidationBitsPerByte is { } v ? v.ToString("F3", CultureInfo.InvariantCulture) : "–";
                        task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                            $"step {p.Step}: train {p.TrainBitsPerByte:F3} bpb, validation {validated} bpb"));
                    });
                    return Rwkv7Trainer.Train(train, validation, options, outputDirectory, resume, reporter, cancellationToken);
                });
        }
        else
        {
            result = Rwkv7Trainer.Train(train, validation, options, outputDirectory, resume, new SynchronousProgress<TrainingProgress>(OnProgress), cancellationToken);
        }

        string logPath = Path.Combine(outputDirectory, Rwkv7Trainer.LogFileName);
        if (json)
        {
            context.WriteJson(new Report(options.Layers, options.Width, options.HeadSize, options.ContextLength, options.BatchSize,
                result.Model.ParameterCount, result.Steps, CliJson.Finite(result.ValidationBitsPerByte), result.ModelPath, logPath, plotPath,
                new CorpusReport(corpus.Source, corpus.Documents.Count, corpus.ByteCount, train.Count, validation.Count)));
            return 0;
        }
        var table = new Table { Border = TableBorder.Rounded, ShowHeaders = false };
        table.AddColumn("measure");
        table.AddColumn(new TableColumn("value").RightAligned());
        void Row(string name, string value) => table.AddRow(Markup.Escape(name), Markup.Escape(value));
        Row("model", $"RWKV-7 {options.Layers} layers × {options.Width}, head size {options.HeadSize}, {result.Model.ParameterCount.ToString("N0", CultureInfo.InvariantCulture)} parameters");
        Row("steps", result.Steps.ToString("N0", CultureInfo.InvariantCulture));
        Row("validation bits per byte", result.ValidationBitsPerByte.ToString("F4", CultureInfo.InvariantCulture));
        Row("weights (FP16)", result.ModelPath);
        Row("log", logPath);
        Row("plot", plotPath);
        console.Write(table);
        return 0;
    }
}
