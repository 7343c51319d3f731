using System.CommandLine;
using System.Globalization;
using System.Text;
using RwkvQuant.Calibration;
using RwkvQuant.Comparison;
using RwkvQuant.Corpora;
using RwkvQuant.Evaluation;
using RwkvQuant.Formats;
using RwkvQuant.Models;
using RwkvQuant.Quantization;
using RwkvQuant.Tokenizers;
using Spectre.Console;

namespace RwkvQuant.Cli.Commands;

/// <summary>
/// <c>rwkvquant compare &lt;model&gt; --calib FILE --eval FILE</c>: quantizes every weight matrix inside the blocks with
/// each method and prints one table (exact bits per weight, Hessian-weighted error, bits per byte), measured in one run.
/// </summary>
internal static class CompareCommand
{
    public static Command Create(CliContext context)
    {
        var model = new ModelChoice("The model file (rwkv.cpp .bin, PyTorch .pth or safetensors).");
        var calibration = new CalibrationChoice();
        var evaluation = new Option<FileInfo?>("--eval") { Description = "Evaluation text (.jsonl or plain text), disjoint from the calibration text. Required with a model file; default model: the reference-pack evaluation split." };
        var evaluationDocuments = new Option<string?>("--eval-docs") { Description = "Evaluation documents of a .jsonl file (or of the evaluation split), a..b inclusive. Default: all." };
        var methods = new Option<string>("--methods")
        {
            Description = $"Comma-separated methods: {string.Join(", ", ComparisonMethod.Standard.Keys)}, or a hybrid with a bit budget, " +
                          "hybrid@BPW / hybrid-nocb@BPW (e.g. hybrid@3.525). The seq-* and hybrid* methods run the whole pipeline with sequential calibration.",
            DefaultValueFactory = _ => DefaultMethods,
        };
        var markdown = new Option<FileInfo?>("--markdown") { Description = "Also write the table as Markdown to this file (atomically)." };
        var plot = new Option<FileInfo?>("--plot")
        {
            Description = $"Also write a PNG ({ComparisonPlot.Width} × {ComparisonPlot.Height}) of bits per byte and KL to float32 against bits per weight, one point per method, float32 as a line (atomically).",
        };
        var tokenizer = new TokenizerChoice();
        var command = new Command("compare", "Quantize a model's block weights with several methods and compare bits per weight and quality in one table.")
        {
            model.Model, evaluation, evaluationDocuments, methods, markdown, plot,
        };
        context.Examples.Add(command,
            new("rwkvquant compare --methods gptq3,gptvq,hybrid,q4_0", "The embedded default model, calibrated and evaluated on disjoint splits of the .NET reference-pack documentation"),
            new("rwkvquant compare model.bin --calib lambada_test.jsonl --calib-docs 0..127 --eval lambada_test.jsonl --eval-docs 5000..5152",
                "The default methods (the RWKVQuant proof table), calibration and evaluation documents disjoint"),
            new("rwkvquant compare model.bin --calib c.jsonl --eval e.jsonl --methods rtn3,gptq3,hybrid@3.525,q4_0 --markdown table.md --plot table.png",
                "Chosen methods, with the table as Markdown and the bits-per-weight-vs-quality plot as PNG"),
            new("rwkvquant compare model.bin --calib c.jsonl --eval e.jsonl --methods gptq3,gptvq --json", "The rows as JSON, for scripts"));
        calibration.AddTo(command);
        tokenizer.AddTo(command);
        command.Add(model.Corpus);
        context.AddJson(command);
        context.AddThreads(command);
        command.SetAction((parse, cancellationToken) => context.RunAsync(parse, token =>
        {
            string? modelPath = model.Path(parse);
            string? calibrationPath = calibration.Path(parse), evaluationPath = parse.GetValue(evaluation)?.FullName;
            if (modelPath is not null && (calibrationPath is null || evaluationPath is null))
                throw new ArgumentException("--calib and --eval are required with a model file (without one, the embedded default model uses the reference-pack calibration and evaluation splits).");
            foreach (FileInfo? written in new[] { parse.GetValue(markdown), parse.GetValue(plot) })
            {
                if (written is not null)
                    AtomicFile.EnsureWritable(written.FullName); // before the comparison, not after it
            }
            return Run(
                context,
                context.IsJson(parse),
                new Request(
                    modelPath,
                    calibrationPath,
                    calibration.Range(parse),
                    evaluationPath,
                    ParseRange(parse.GetValue(evaluationDocuments)),
                    calibration.Options(parse, modelPath),
                    ParseMethods(parse.GetRequiredValue(methods)),
                    parse.GetValue(markdown)?.FullName,
                    parse.GetValue(plot)?.FullName),
                config => tokenizer.Create(parse, config),
                model.LazyCorpus(parse, token),
                token);
        }, cancellationToken));
        return command;
    }

    private sealed record Request(
        string? ModelPath, string? CalibrationPath, DocumentRange? CalibrationRange, string? EvaluationPath, DocumentRange? EvaluationRange,
        CalibrationOptions Calibration, IReadOnlyList<ComparisonMethod> Methods, string? MarkdownPath, string? PlotPath);

    /// <summary>What <c>compare --json</c> writes: the table's rows with full-precision numbers.</summary>
    internal sealed record Report(string Model, string Version, string Description, CalibrationReport Calibration, TextReport Evaluation,
        IReadOnlyList<RowReport> Rows, string? Markdown, string? Plot);

    internal sealed record CalibrationReport(string File, string? Documents, int Samples, int TokensPerSample, int Seed);

    internal sealed record TextReport(string File, string? Documents);

    /// <param name="MeanRelativeError">Mean of tr((W−Q)H(W−Q)ᵀ)/tr(WHWᵀ) over the tensors; null where no tensor was quantized.</param>
    /// <param name="KlDivergence">Mean KL(float32 ‖ method) per token; 0 for float32.</param>
    /// <param name="TotalBitsPerWeight">Stored bits over the block matrices and the multiplication vectors μ together.</param>
    internal sealed record RowReport(string Method, int Tensors, long Parameters, long StoredBits, double? BitsPerWeight,
        long VectorParameters, long VectorStoredBits, double? TotalBitsPerWeight,
        double? MeanRelativeError, double? MaxRelativeError, double? BitsPerByte, double? KlDivergence, double QuantizeSeconds,
        IReadOnlyList<string> Skipped, IReadOnlyList<string> Notes)
    {
        public static RowReport From(ComparisonRow row) => new(row.Method, row.TensorCount, row.Parameters, row.StoredBits,
            CliJson.Finite(row.BitsPerWeight), row.VectorParameters, row.VectorStoredBits, CliJson.Finite(row.TotalBitsPerWeight),
            CliJson.Finite(row.MeanRelativeError), CliJson.Finite(row.MaxRelativeError),
            CliJson.Finite(row.BitsPerByte), CliJson.Finite(row.KlDivergence), row.QuantizeTime.TotalSeconds, row.Skipped, row.Notes);
    }

    private static DocumentRange? ParseRange(string? text) => text is null ? null : DocumentRange.Parse(text);

    /// <summary>The proof table of the RWKVQuant method: baselines, GPTQ-only and GPTVQ-only, the hybrid with and without codebooks, ggml.</summary>
    private const string DefaultMethods = "rtn3,gptq3,kmeans,gptvq,seq-gptq3,seq-gptvq,hybrid,hybrid-nocb,q4_0,q5_1";

    private static List<ComparisonMethod> ParseMethods(string text)
    {
        List<ComparisonMethod> result = [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(ComparisonMethod.Parse)];
        return result.Count > 0 ? result : throw new ArgumentException("--methods names no method.");
    }

    private static int Run(CliContext context, bool json, Request request, Func<RwkvConfig, ITokenizer> createTokenizer,
        Lazy<ReferencePackCorpus> corpus, CancellationToken cancellationToken)
    {
        RwkvModel model = ModelChoice.Load(request.ModelPath);
        ITokenizer tokenizer = createTokenizer(model.Config);
        TextSource calibrationText = TextSource.Resolve(request.CalibrationPath, request.CalibrationRange, CorpusSplit.Calibration, corpus);
        TextSource evaluationText = TextSource.Resolve(request.EvaluationPath, request.EvaluationRange, CorpusSplit.Evaluation, corpus);
        TextSource.EnsureDisjoint(calibrationText, request.CalibrationRange, evaluationText, request.EvaluationRange);
        CalibrationData data = CalibrationData.FromDocuments(calibrationText.Texts, tokenizer, request.Calibration);
        int[][] evaluationDocuments = evaluationText.Texts.Select(tokenizer.Encode).ToArray();

        IAnsiConsole console = context.ProgressConsole(json);
        IReadOnlyList<ComparisonRow> rows = PlainProgress.WithStatus(console, "calibrating", status =>
        {
            IReadOnlyDictionary<string, Hessian> hessians = HessianCollector.Collect(model, data,
                progress: new SynchronousProgress<CalibrationProgress>(p => status($"calibrating: sample {p.SamplesDone}/{p.SampleCount}")),
                cancellationToken: cancellationToken);
            return QuantizerComparison.Run(model, hessians, request.Methods, evaluationDocuments, tokenizer,
                progress: new SynchronousProgress<string>(method => status($"quantizing and evaluating {method}")),
                calibration: data, cancellationToken: cancellationToken);
        });

        string heading =
            $"Model {ModelChoice.DisplayName(request.ModelPath)} ({model.Config.Version}); calibration {calibrationText.Description}, " +
            string.Create(CultureInfo.InvariantCulture, $"{data.Samples.Count} × {request.Calibration.TokensPerSample} tokens (seed {request.Calibration.Seed}); ") +
            $"bits per byte on {evaluationText.Description}. " +
            "Errors are tr((W−Q)H(W−Q)ᵀ)/tr(WHWᵀ) over the weight matrices inside the blocks; bits per weight count every stored bit of those matrices, " +
            "and 'with μ' those of the matrices and the element-wise multiplication vectors together (codebooks where quantized, else float32 as stored).";
        string table = QuantizerComparison.Format(rows);
        if (request.MarkdownPath is { } markdownPath)
        {
            byte[] markdown = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes($"{heading}\n\n{table}");
            AtomicFile.Write(markdownPath, stream => stream.Write(markdown));
        }
        if (request.PlotPath is { } plotPath)
            ComparisonPlot.Write(plotPath, rows, $"{ModelChoice.DisplayName(request.ModelPath)}: bits per byte on {evaluationText.Description}");
        if (json)
        {
            context.WriteJson(new Report(request.ModelPath ?? ModelChoice.DisplayName(null), model.Config.Version.ToString(), heading,
                new CalibrationReport(calibrationText.Name, request.CalibrationRange?.ToString(), data.Samples.Count, request.Calibration.TokensPerSample, request.Calibration.Seed),
                new TextReport(evaluationText.Name, request.EvaluationRange?.ToString()),
                [.. rows.Select(RowReport.From)], request.MarkdownPath, request.PlotPath));
            return 0;
        }
        context.Console.WriteLine(heading);
        context.Console.WriteLine();
        context.Console.Write(new Text(table));
        return 0;
    }
}
