using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using RwkvQuant.Calibration;
using RwkvQuant.Corpora;
using RwkvQuant.DefaultModel;
using RwkvQuant.Formats;
using RwkvQuant.Models;
using RwkvQuant.Tokenizers;
using Spectre.Console;

namespace RwkvQuant.Cli.Commands;

/// <summary>
/// <c>rwkvquant imatrix [model] --calib FILE -o model.imatrix</c>: the importance matrix (E[x_j²] per input column of
/// every block matrix, one pass of the float model over the calibration text), written once so that several
/// <c>quantize --method …-imat --imatrix</c> runs reuse it, as llama-imatrix's file is.
/// </summary>
internal static class ImatrixCommand
{
    /// <summary>Where the default model's importance matrix goes when no -o is given.</summary>
    internal const string DefaultOutput = EmbeddedModel.Name + ".imatrix";

    public static Command Create(CliContext context)
    {
        var model = new ModelChoice("The model file (rwkv.cpp .bin, PyTorch .pth or safetensors).");
        var calibration = new CalibrationChoice();
        var output = new Option<FileInfo?>("--output", "-o") { Description = $"The importance matrix to write (safetensors), atomically. Required with a " +
            $"model file; default model: {DefaultOutput}." };
        var tokenizer = new TokenizerChoice();
        var command = new Command("imatrix",
            "Collect an importance matrix — E[x²] per input column of every block matrix, one pass of the float model over calibration text — for " +
            "`quantize --method …-imat --imatrix FILE`, so several quantizations reuse one calibration (llama-imatrix's role).")
        {
            model.Model, output,
        };
        context.Examples.Add(command,
            new("rwkvquant imatrix", $"The embedded default model on the reference-pack calibration split; writes {DefaultOutput}"),
            new("rwkvquant imatrix model.bin --calib lambada_test.jsonl --calib-docs 0..127 -o model.imatrix", "A model file on 128 calibration documents"),
            new("rwkvquant quantize model.bin -o model-q3_k.rwkvq --method q3_k-imat --imatrix model.imatrix", "Then quantize with it, no calibration pass"));
        calibration.AddTo(command);
        tokenizer.AddTo(command);
        command.Add(model.Corpus);
        context.AddJson(command);
        context.AddThreads(command);
        command.SetAction((parse, cancellationToken) => context.RunAsync(parse, token =>
        {
            string? modelPath = model.Path(parse);
            string? calibrationPath = calibration.Path(parse), outputPath = parse.GetValue(output)?.FullName;
            if (modelPath is not null && (calibrationPath is null || outputPath is null))
                throw new ArgumentException($"--calib and -o are required with a model file (without one, the embedded default model is calibrated on the " +
                    $"reference-pack calibration split and written to {DefaultOutput}).");
            outputPath ??= Path.GetFullPath(DefaultOutput);
            AtomicFile.EnsureWritable(outputPath);
            DocumentRange? range = calibration.Range(parse);
            CalibrationOptions options = calibration.Options(parse, modelPath);
            bool json = context.IsJson(parse);
            IAnsiConsole console = context.ProgressConsole(json);

            var clock = Stopwatch.StartNew();
            RwkvModel loaded = ModelChoice.Load(modelPath);
            ITokenizer tokens = tokenizer.Create(parse, loaded.Config);
            TextSource text = TextSource.Resolve(calibrationPath, range, CorpusSplit.Calibration, model.LazyCorpus(parse, token));
            CalibrationData data = CalibrationData.FromDocuments(text.Texts, tokens, options);
            string description = string.Create(CultureInfo.InvariantCulture, $"{text.Description}, {data.Samples.Count} × {options.TokensPerSample} " +
                $"tokens, seed {options.Seed}");
            console.WriteLine($"collecting: {ModelChoice.DisplayName(modelPath)} over {description}");
            var plain = new PlainProgress(console);
            var progress = new SynchronousProgress<CalibrationProgress>(p => plain.Count("importance matrix", p.SamplesDone, p.SampleCount, "sample-blocks"));
            ImportanceMatrix matrix = ImportanceMatrix.Collect(loaded, data, description, progress, token);
            matrix.Save(outputPath);
            long bytes = new FileInfo(outputPath).Length;
            using var process = Process.GetCurrentProcess();
            var report = new Report(modelPath ?? ModelChoice.DisplayName(null), outputPath, bytes, matrix.Columns.Count, matrix.TokenCount, description,
                clock.Elapsed.TotalSeconds, process.TotalProcessorTime.TotalSeconds, process.PeakWorkingSet64);
            if (json)
            {
                context.WriteJson(report);
                return 0;
            }
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {outputPath} ({bytes:N0} bytes): {report.Matrices} matrices, {report.Tokens:N0} tokens; {report.WallSeconds:F1} s wall, " +
                    $"{report.CpuSeconds:F1} s CPU, peak memory {report.PeakMemoryBytes / 1e9:F2} GB"));
            return 0;
        }, cancellationToken));
        return command;
    }

    /// <summary>What <c>imatrix --json</c> writes.</summary>
    internal sealed record Report(string Model, string Output, long FileBytes, int Matrices, long Tokens, string Calibration,
        double WallSeconds, double CpuSeconds, long PeakMemoryBytes);
}
