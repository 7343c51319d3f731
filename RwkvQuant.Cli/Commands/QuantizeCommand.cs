using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using RwkvQuant.Calibration;
using RwkvQuant.Codebooks;
using RwkvQuant.Corpora;
using RwkvQuant.DefaultModel;
using RwkvQuant.Evaluation;
using RwkvQuant.Formats;
using RwkvQuant.Inference;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using RwkvQuant.Proxy;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar.Gptq;
using RwkvQuant.Tokenizers;
using RwkvQuant.Vector.Gptvq;
using Spectre.Console;

namespace RwkvQuant.Cli.Commands;

/// <summary>
/// <c>rwkvquant quantize &lt;model&gt; --calib FILE -o out.rwkvq</c>: the RWKVQuant hybrid pipeline (GPTQ 3-bit g64 or
/// GPTVQ d1 b3 per matrix as the coarse-to-fine proxy decides, activation-weighted codebooks for the multiplication
/// vectors), the per-tensor report and totals, and the <c>.rwkvq</c> file written atomically.
/// </summary>
internal static class QuantizeCommand
{
    public static Command Create(CliContext context)
    {
        var model = new ModelChoice("The model file (rwkv.cpp .bin, PyTorch .pth or safetensors).");
        var calibration = new CalibrationChoice();
        var evaluation = new Option<FileInfo?>("--eval")
        {
            Description = "Held-out text (.jsonl or plain text) for the before/after figures: bits per byte of the float32 and the quantized model " +
                          "and the KL divergence between them. " +
                          $"Default model: about {BeforeAfter.DefaultEvaluationBytes:N0} bytes of the reference-pack evaluation split (see --eval-bytes); " +
                          "a model file: none unless given.",
        };
        var evaluationDocuments = new Option<string?>("--eval-docs") { Description = "Documents of the --eval .jsonl file (or of the evaluation split), " +
            "a..b inclusive. Default: all (or, for the split, a sample of --eval-bytes)." };
        var evaluationBytes = new Option<int>("--eval-bytes")
        {
            Description = "For the default model without --eval-docs: bytes of the evaluation split scored, as every k-th document. 0 skips the " +
                "before/after quality figures.",
            DefaultValueFactory = _ => BeforeAfter.DefaultEvaluationBytes,
        };
        var speedTokens = new Option<int>("--bench-tokens")
        {
            Description = "Greedy decoding steps timed on the inference engine for the float32 and the quantized model (tokens per second, weight bytes " +
                "per token); 0 skips it.",
            DefaultValueFactory = _ => BeforeAfter.DefaultSpeedTokens,
        };
        var tauC = new Option<double?>("--tau-c") { Description = "Coarse threshold τ_c: a matrix goes to SQ iff P_c < τ_c and P_f < τ_f (the paper's " +
            "RWKV-7 values are 1.54 and 30). Needs --tau-f." };
        var tauF = new Option<double?>("--tau-f") { Description = "Fine threshold τ_f. Needs --tau-c." };
        var fraction = new Option<double?>("--sq-fraction")
        {
            Description = "Target share of the block matrices (by count) sent to SQ: both published thresholds (1.54, 30) are scaled by one factor " +
                          "(ProxyThresholds.ScaledForTargetScalarFraction) over the proxy scores of this model's matrices. " +
                          "Default 0.9, the paper's share — the published thresholds themselves send almost nothing to SQ on small models.",
        };
        var bitsPerWeight = new Option<double?>("--bpw")
        {
            Description = "Bit budget: bits per weight over the quantized tensors (block matrices and multiplication vectors). The code width " +
                          "(2-4 bits) and group sizes are chosen so the exact stored bits per weight are the largest not above it, with the " +
                          "--sq-fraction share (default 0.9) of the matrices in SQ. E.g. 3.25.",
        };
        var allocate = new Option<bool>("--allocate")
        {
            Description = "With --bpw: spend the budget by measured error per stored bit instead of a uniform ladder — every block matrix is first " +
                          "quantized at 14 settings (GPTQ 2-4 bits in groups of 16-128, GPTVQ 1-D and 2-D) with the float model's Hessians, then an exact " +
                          "knapsack picks one setting per matrix, errors weighted by each matrix's measured effect on the output (about 10 times the " +
                              "quantization time). The report shows the allocator's and the proxy's picks.",
        };
        var noCodebooks = new Option<bool>("--no-codebooks") { Description = "Keep the element-wise multiplication vectors in FP32 instead of quantizing " +
            "them to activation-weighted codebooks." };
        var recipe = new Option<HybridRecipe>("--recipe")
        {
            Description = "The settings the plan starts from: default (SQ by GPTQ act-order, 3-bit codes in groups of 32 with 6-bit scales and zeros on " +
                          "FP16 super-block steps, 3.44 bits per weight; 4-bit codebooks for the multiplication vectors) or paper (GPTQ 3-bit g64 with " +
                          "FP16 scale and zero, 3.5 bits per weight; 3-bit codebooks). Both take GPTVQ d1 b3 for the matrices the proxy sends to VQ.",
            DefaultValueFactory = _ => HybridRecipe.Default,
        };
        var method = new Option<string?>("--method", "-m")
        {
            Description = "How the block matrices are quantized (default hybrid): hybrid (RWKVQuant: the proxy picks GPTQ or GPTVQ per matrix, " +
                          "codebooks for the multiplication vectors), gptq, gptvq or rtn on every matrix (sequential calibration for gptq/gptvq; --bits, --group-size, --sym, " +
                          "--act-order, --damp, --vq-dim), or a ggml format byte for byte as rwkv.cpp/llama-quantize make it: q4_0, q4_1, q5_0, q5_1, q8_0, " +
                          "q2_k, q3_k, q4_k, iq4_xs, iq3_s — from the weights alone, no calibration; add -imat (q3_k-imat …) to weight by an importance " +
                          "matrix (--imatrix, or collected from --calib in one pass). Other methods than hybrid keep the multiplication vectors in FP32.",
        };
        var bits = new Option<int?>("--bits") { Description = "gptq/rtn/hybrid's SQ: bits per code, 2-8 (default 3); gptvq: index bits per vector " +
            "(default 3)." };
        var groupSize = new Option<int?>("--group-size") { Description = "gptq/rtn/hybrid's SQ: columns sharing a scale and zero (gptq/rtn default 64; " +
            "hybrid: the recipe's)." };
        var symmetric = new Option<bool>("--sym") { Description = "gptq/rtn/hybrid's SQ: symmetric codes, no stored zero." };
        var actOrder = new Option<bool>("--act-order") { Description = "gptq/hybrid's SQ: quantize columns by descending Hessian diagonal (the " +
            "permutation is stored)." };
        var damp = new Option<double?>("--damp") { Description = "gptq/gptvq/hybrid's SQ: damping added to diag(H), as a fraction of its mean, in (0, 1] " +
            "(default 0.01)." };
        var vqDimension = new Option<int?>("--vq-dim")
        {
            Description = "gptvq: the vector dimension (default 1) with one codebook per 2 × 32 weights; for 2-D codebooks name the group too, " +
                          "--method gptvq-d2-b6-g16x256 (index bits, one codebook per 16 rows × 256 columns: 3.25 bits per weight).",
        };
        var keep = new Option<string[]>("--keep")
        {
            Description = "Leave the block matrices whose canonical names match this glob unquantized, in F32 (repeatable), e.g. 'blocks.0.*' or " +
                          "'blocks.*.att.output.weight'. The embedding and head are always kept (FP16); `rwkvquant info` lists the names.",
            AllowMultipleArgumentsPerToken = false,
        };
        var tensorType = new Option<string[]>("--tensor-type")
        {
            Description = $"PATTERN=METHOD: the block matrices matching the glob use that method whatever the selector says (repeatable), e.g. " +
                          $"'blocks.*.ffn.value.weight=q4_k'. Methods: {QuantizeMethod.TensorTypeNames} (f32 = --keep). gptq/rtn/gptvq take --bits etc. " +
                              $"as the main method does.",
        };
        var imatrix = new Option<FileInfo?>("--imatrix")
        {
            Description = "An importance matrix made by `rwkvquant imatrix` for the same model: the -imat methods then need no calibration pass, so " +
                "several quantizations reuse one calibration.",
        };
        var embeddingType = new Option<string?>("--embedding-type")
        {
            Description = "emb.weight: f16 (default), bf16 or f32 kept, or quantized from its weights alone with rtn or a ggml format " +
                          "(q4_0 … q8_0, q2_k … iq3_s; llama-quantize's --token-embedding-type). The engine looks rows up in the packed form.",
        };
        var headType = new Option<string?>("--head-type")
        {
            Description = "head.weight: f16 (default), bf16 or f32 kept, or quantized from its weights alone like --embedding-type " +
                          "(llama-quantize's --output-tensor-type). A kept embedding and head share one type.",
        };
        var preset = new Option<string?>("--preset")
        {
            Description = "Named settings: " + QuantizePreset.Listing + ". A preset sets the method and its settings; --keep, --tensor-type and " +
                "--no-codebooks may be added.",
        };
        var output = new Option<FileInfo?>("--output", "-o") { Description = $"The quantized model file to write (.rwkvq), atomically. Required with a " +
            $"model file; default model: {DefaultOutput} in the current folder." };
        var tokenizer = new TokenizerChoice();
        var command = new Command("quantize",
            "Quantize a model with RWKVQuant: GPTQ 3-bit (SQ; act-order, groups of 32 with 6-bit scales) or GPTVQ d1 b3 (VQ) per block matrix as the " +
            "coarse-to-fine proxy decides, activation-weighted codebooks for the multiplication vectors, embedding and head in FP16; calibration runs " +
                "block by block.")
        {
            model.Model, method, preset, bits, groupSize, symmetric, actOrder, damp, vqDimension, keep, tensorType, embeddingType, headType, imatrix,
            tauC, tauF, fraction, bitsPerWeight, allocate, noCodebooks, recipe, output,
            evaluation, evaluationDocuments, evaluationBytes, speedTokens,
        };
        context.Examples.Add(command,
            new("rwkvquant quantize", $"The embedded default model, calibrated on the reference-pack calibration split; writes {DefaultOutput} and prints " +
                $"bits per weight, bits per byte, KL and tokens per second before and after"),
            new("rwkvquant quantize --recipe paper -o default-paper.rwkvq", "The same with the paper's settings (GPTQ 3-bit g64, FP16 scale and zero; " +
                "3-bit codebooks)"),
            new("rwkvquant quantize --bpw 3.25 -o default-3.25.rwkvq --json", "The default model under a bit budget, the report as JSON"),
            new("rwkvquant quantize model.bin --calib lambada_test.jsonl --calib-docs 0..127 -o model.rwkvq --eval lambada_test.jsonl --eval-docs 5000..5152",
                "A model file (90% of the block matrices in SQ, codebooks for the multiplication vectors), with before/after figures on held-out documents"),
            new("rwkvquant quantize model.bin --calib c.jsonl -o model.rwkvq --bpw 3.25", "The most accurate plan whose stored bits per weight fit a budget"),
            new("rwkvquant quantize model.bin --calib c.jsonl -o model.rwkvq --tau-c 1.54 --tau-f 30", "The published RWKV-7 thresholds as they are"),
            new("rwkvquant quantize model.bin --calib c.jsonl -o model.rwkvq --json", "The report and totals as JSON, for scripts (progress on stderr)"),
            new("rwkvquant quantize model.bin -o model-q4_k.rwkvq --method q4_k", "llama.cpp's Q4_K from the weights alone, no calibration (as " +
                "llama-quantize without --imatrix)"),
            new("rwkvquant quantize model.bin -o model-iq3_s.rwkvq --method iq3_s-imat --imatrix " +
                "model.imatrix", "IQ3_S weighted by an importance matrix that `rwkvquant imatrix` made once"),
            new("rwkvquant quantize model.bin --calib c.jsonl -o model-gptq4.rwkvq --method gptq --bits 4 --group-size 128 --sym " +
                "--act-order", "GPTQ on every matrix with GPTQModel's usual settings"),
            new("rwkvquant quantize model.bin --calib c.jsonl -o model.rwkvq --preset q3_k_m --keep " +
                "'blocks.0.*'", "A named preset, with the first block left in F32"));
        calibration.AddTo(command);
        tokenizer.AddTo(command);
        command.Add(model.Corpus);
        context.AddJson(command);
        context.AddThreads(command);
        command.SetAction((parse, cancellationToken) => context.RunAsync(parse, token =>
        {
            QuantizePreset? chosen = parse.GetValue(preset) is { } presetName ? QuantizePreset.Find(presetName) : null;
            var settings = new QuantizerSettings(parse.GetValue(bits), parse.GetValue(groupSize), parse.GetValue(symmetric), parse.GetValue(actOrder),
                parse.GetValue(damp), parse.GetValue(vqDimension));
            string[] Given(params Option[] options) => [.. options.Where(o => parse.GetResult(o) is { Implicit: false }).Select(o => o.Name)];
            if (chosen is not null)
            {
                string[] conflicting = [.. Given(method, bitsPerWeight, allocate, recipe, tauC, tauF, fraction), .. settings.Given];
                if (conflicting.Length > 0)
                    throw new ArgumentException($"--preset {chosen.Name} sets the method and its settings; leave out " +
                        $"{string.Join(", ", conflicting)} (--keep, --tensor-type and --no-codebooks may be added).");
                settings = chosen.Settings ?? QuantizerSettings.None;
            }
            string methodKey = chosen?.Method ?? parse.GetValue(method) ?? QuantizeMethod.Hybrid;
            if (!QuantizeMethod.IsMethod(methodKey))
                throw new ArgumentException($"--method: unknown method '{methodKey}'; choose from {string.Join(", ", QuantizeMethod.Names)}, or " +
                    "gptvq-dD-bB-gRxC (e.g. gptvq-d2-b6-g16x256).");
            bool hybrid = methodKey.Equals(QuantizeMethod.Hybrid, StringComparison.OrdinalIgnoreCase);
            double? c = parse.GetValue(tauC), f = parse.GetValue(tauF), share = parse.GetValue(fraction);
            double? budget = chosen is null ? parse.GetValue(bitsPerWeight) : chosen.BitsPerWeight;
            bool allocated = chosen?.Allocate ?? parse.GetValue(allocate);
            HybridRecipe recipeChoice = chosen?.Recipe ?? parse.GetValue(recipe);
            if (!hybrid)
            {
                string[] hybridOnly = Given(bitsPerWeight, allocate, recipe, tauC, tauF, fraction, noCodebooks);
                if (hybridOnly.Length > 0)
                    throw new ArgumentException($"{string.Join(", ", hybridOnly)}: the hybrid method's options; --method {methodKey} quantizes every " +
                        "matrix one way (its settings: --bits, --group-size, --sym, --act-order, --damp, --vq-dim).");
            }
            if (c.HasValue != f.HasValue)
                throw new ArgumentException("--tau-c and --tau-f go together: give both, or neither (then --sq-fraction decides).");
            if (c.HasValue && (share.HasValue || budget.HasValue))
                throw new ArgumentException("Give either --tau-c/--tau-f or --sq-fraction/--bpw, not both.");
            if (allocated && (budget is null || share.HasValue || recipeChoice != HybridRecipe.Default))
                throw new ArgumentException("--allocate spends a --bpw budget with the default recipe's settings; give --bpw, and neither --sq-fraction " +
                    "nor --recipe paper.");
            if ((budget is not null || allocated) && settings.Given.Count > 0)
                throw new ArgumentException($"--bpw picks the code width and group sizes; give no {string.Join(", ", settings.Given)} with it.");
            if (budget is { } b && !(b > 0 && double.IsFinite(b)))
                throw new ArgumentException($"--bpw is {b.ToString(CultureInfo.InvariantCulture)}; it is a positive number of bits per weight.");
            if (share is < 0 or > 1)
                throw new ArgumentException($"--sq-fraction is {share.Value.ToString(CultureInfo.InvariantCulture)}; it lies in [0, 1].");
            // The method's quantizers (and the settings they take) are checked here, before any file is read.
            if (!hybrid)
                _ = QuantizeMethod.ForMatrix(methodKey, settings);
            else if (settings.Given.Count > 0)
                _ = settings.Gptq(GptqOptions.Default);
            TensorTypeRule[] rules = [.. (parse.GetValue(keep) ?? []).Select(k => new TensorTypeRule(k, null, "--keep")),
                .. (chosen?.TensorTypes ?? []).Concat(parse.GetValue(tensorType) ?? []).Select(t => TensorTypeRule.Parse(t, settings))];
            OutsideBlocksType embeddingChoice = OutsideBlocksType.Parse("--embedding-type", parse.GetValue(embeddingType), settings);
            OutsideBlocksType headChoice = OutsideBlocksType.Parse("--head-type", parse.GetValue(headType), settings);
            if (embeddingChoice.Kept is { } ke && headChoice.Kept is { } kh && ke != kh)
                throw new ArgumentException($"--embedding-type {parse.GetValue(embeddingType)} and --head-type {parse.GetValue(headType)}: a kept " +
                    $"embedding and head share one type (or quantize one of them).");
            string? modelPath = model.Path(parse);
            string? calibrationPath = calibration.Path(parse), outputPath = parse.GetValue(output)?.FullName;
            string? imatrixPath = parse.GetValue(imatrix)?.FullName;
            if (modelPath is not null && outputPath is null)
                throw new ArgumentException("-o is required with a model file (without one, the embedded default model is quantized and written to " +
                    DefaultOutput + ").");
            if (imatrixPath is not null && !File.Exists(imatrixPath))
                throw new FileNotFoundException($"Importance matrix '{imatrixPath}' does not exist; make one with `rwkvquant imatrix`.", imatrixPath);
            if (parse.GetValue(evaluationBytes) < 0 || parse.GetValue(speedTokens) < 0)
                throw new ArgumentException("--eval-bytes and --bench-tokens are 0 or more.");
            string? evaluationRange = parse.GetValue(evaluationDocuments);
            AtomicFile.EnsureWritable(outputPath ?? Path.GetFullPath(DefaultOutput)); // before the work, not after it
            return Run(
                context,
                context.IsJson(parse),
                new Request(
                    modelPath,
                    methodKey,
                    chosen?.Name,
                    settings,
                    rules,
                    embeddingChoice,
                    headChoice,
                    imatrixPath,
                    calibrationPath,
                    calibration.Range(parse),
                    calibration.Options(parse, modelPath),
                    c.HasValue ? new ProxyThresholds(c.Value, f!.Value) : null,
                    share ?? HybridPlan.PaperScalarFraction,
                    budget,
                    allocated,
                    hybrid && !parse.GetValue(noCodebooks),
                    recipeChoice,
                    outputPath ?? Path.GetFullPath(DefaultOutput),
                    parse.GetValue(evaluation)?.FullName,
                    evaluationRange is null ? null : DocumentRange.Parse(evaluationRange),
                    parse.GetValue(evaluationBytes),
                    parse.GetValue(speedTokens)),
                config => tokenizer.Create(parse, config),
                model.LazyCorpus(parse, token),
                token);
        }, cancellationToken));
        return command;
    }

    /// <summary>Where the default model's quantized file goes when no -o is given (the current folder).</summary>
    internal const string DefaultOutput = EmbeddedModel.Name + ".rwkvq";

    /// <summary>The float model's Hessians, then <see cref="HybridPlan.ForAllocation"/>, with a progress line per tenth of the matrices.</summary>
    private static HybridPlan Allocate(IAnsiConsole console, RwkvModel model, CalibrationData data, double target, bool codebooks, CancellationToken token)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        console.WriteLine("allocating the budget: the float model's Hessians, then every block matrix at 14 settings");
        IReadOnlyDictionary<string, Hessian> hessians = HessianCollector.Collect(model, data, cancellationToken: token);
        int reported = 0;
        var progress = new Progress<string>(line =>
        {
            if (Interlocked.Increment(ref reported) % 10 == 0 && !CliContext.IsQuiet)
                console.WriteLine(line);
        });
        HybridPlan plan = HybridPlan.ForAllocation(model, hessians, target, codebooks, sensitivityDocuments: HybridPlan.SensitivitySamples(data),
            progress: progress, cancellationToken: token);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"allocated in {clock.Elapsed.TotalSeconds:F1} s"));
        return plan;
    }

    private sealed record Request(string? ModelPath, string Method, string? Preset, QuantizerSettings Settings, IReadOnlyList<TensorTypeRule> Rules,
        OutsideBlocksType Embedding, OutsideBlocksType Head, string? ImportancePath,
        string? CalibrationPath, DocumentRange? CalibrationRange, CalibrationOptions Calibration,
        ProxyThresholds? Thresholds, double ScalarFraction, double? BitsPerWeight, bool Allocate, bool Codebooks, HybridRecipe Recipe, string OutputPath,
        string? EvaluationPath, DocumentRange? EvaluationRange, int EvaluationBytes, int SpeedTokens);

    /// <summary>What <c>quantize --json</c> writes.</summary>
    /// <param name="ScalarFractionTarget">The --sq-fraction share the thresholds were scaled for; null with explicit --tau-c/--tau-f.</param>
    /// <param name="ImportanceMatrix">The importance matrix's file, or "collected from the calibration", or null when none was used.</param>
    internal sealed record Report(string Model, string Version, string Method, string? Preset, string? ImportanceMatrix, CalibrationReport? Calibration,
        string Plan, string Selector,
        double? ScalarFractionTarget, double? BitsPerWeightBudget, bool Codebooks, string Output, long FileBytes, Cost Cost, Totals Totals,
        BeforeAfter.QualityReport? Evaluation, BeforeAfter.SpeedReport? Speed, IReadOnlyList<TensorReport> Tensors);

    /// <summary>The process's resident memory now, in GB (for progress lines of long runs).</summary>
    private static double ResidentGigabytes()
    {
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        return process.WorkingSet64 / 1e9;
    }

    /// <summary>What loading, calibrating, quantizing and saving cost (the before/after measurements excluded).</summary>
    /// <param name="WallSeconds">Elapsed time from the start of the command to the file written.</param>
    /// <param name="CpuSeconds">Processor time of the whole process over that span (all threads).</param>
    /// <param name="PeakMemoryBytes">The process's peak resident memory by then (Linux VmHWM; the peak working set elsewhere).</param>
    /// <param name="Phases">The same by phase: "load" (reading the model and the calibration text, planning), then the
    /// quantizer's <see cref="QuantizationPhase"/>s; their wall times add up to <paramref name="WallSeconds"/> (within milliseconds).</param>
    internal sealed record Cost(double WallSeconds, double CpuSeconds, long PeakMemoryBytes, IReadOnlyList<PhaseReport> Phases)
    {
        public static Cost Measure(TimeSpan wall, IReadOnlyList<PhaseReport> before, IReadOnlyList<PhaseCost> phases)
        {
            using var process = System.Diagnostics.Process.GetCurrentProcess();
            // Linux updates VmHWM lazily (when memory is unmapped), so a sampled resident size can exceed it: the peak is the larger.
            long peak = Math.Max(process.PeakWorkingSet64, phases.Select(p => p.PeakResidentBytes).DefaultIfEmpty().Max());
            return new Cost(wall.TotalSeconds, process.TotalProcessorTime.TotalSeconds, peak,
                [.. before, .. phases.Select(p => new PhaseReport(JsonNamingPolicy.CamelCase.ConvertName(p.Phase.ToString()), p.Wall.TotalSeconds, p.Cpu.TotalSeconds, p.PeakResidentBytes))]);
        }

        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"{WallSeconds:F1} s wall, {CpuSeconds:F1} s CPU, peak memory {PeakMemoryBytes / 1e9:F2} GB");

        /// <summary>A table of the phases: wall seconds, CPU seconds and peak resident GB of each.</summary>
        public Table PhaseTable()
        {
            var table = new Table { Border = TableBorder.Rounded };
            table.AddColumn("phase");
            foreach (string column in new[] { "wall (s)", "CPU (s)", "peak (GB)" })
                table.AddColumn(new TableColumn(column).RightAligned());
            foreach (PhaseReport p in Phases)
                table.AddRow(p.Phase, Invariant(p.WallSeconds, "F1"), Invariant(p.CpuSeconds, "F1"), Invariant(p.PeakMemoryBytes / 1e9, "F2"));
            return table;
        }
    }

    /// <summary>What one phase of <c>quantize</c> cost (see <see cref="Cost"/>); the peak is sampled (<see cref="PhaseCost"/>).</summary>
    internal sealed record PhaseReport(string Phase, double WallSeconds, double CpuSeconds, long PeakMemoryBytes);

    internal sealed record CalibrationReport(string File, string? Documents, int Samples, int TokensPerSample);

    /// <param name="QuantizedBitsPerWeight">QuantizedStoredBits / QuantizedParameters.</param>
    /// <param name="BitsPerWeight">StoredBits / Parameters over the whole model (kept tensors at their stored type).</param>
    internal sealed record Totals(int Matrices, int ScalarMatrices, double ScalarFractionByCount, double ScalarFractionByParameters,
        int QuantizedTensors, long QuantizedParameters, long QuantizedStoredBits, double QuantizedBitsPerWeight,
        long Parameters, long StoredBits, double BitsPerWeight);

    internal sealed record TensorReport(string Name, HybridTensorKind Kind, double? CoarseProxy, double? FineProxy, HybridMethod Method,
        string Scheme, long Parameters, long StoredBits, double BitsPerWeight, double? RelativeError);

    private static int Run(CliContext context, bool json, Request request, Func<RwkvConfig, ITokenizer> createTokenizer,
        Lazy<ReferencePackCorpus> corpus, CancellationToken cancellationToken)
    {
        IAnsiConsole console = context.ProgressConsole(json);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        RwkvModel model = ModelChoice.Load(request.ModelPath);
        bool hybrid = request.Method.Equals(QuantizeMethod.Hybrid, StringComparison.OrdinalIgnoreCase);

        // The pipeline without its plan's allocation (which needs the calibration): what it needs is known now.
        HybridPlan? plan = !hybrid ? null
            : request.Thresholds is { } thresholds ? HybridPlan.ForThresholds(model, thresholds, request.Codebooks, request.Recipe)
            : request is { Allocate: true } ? null
            : request.BitsPerWeight is { } budget ? HybridPlan.ForBitsPerWeight(model, budget, request.ScalarFraction, request.Codebooks, recipe: request.Recipe)
            : HybridPlan.ForScalarFraction(model, request.ScalarFraction, request.Codebooks, recipe: request.Recipe);
        IReadOnlyList<string> blockMatrices = HybridQuantizer.BlockMatrices(model);
        HybridQuantizer Build(HybridPlan? p, out string description, out IReadOnlyList<string> ruleLines)
        {
            (HybridQuantizerBuilder builder, description) = QuantizeMethod.Pipeline(request.Method, p, request.Settings);
            ruleLines = TensorTypeRule.Apply(request.Rules, builder, blockMatrices, model.Tensors.Keys);
            if (request.Embedding.Quantizer is { } e)
            {
                builder.UseForEmbedding(e);
                ruleLines = [.. ruleLines, $"emb.weight: {e.Name}"];
            }
            if (request.Head.Quantizer is { } h)
            {
                builder.UseForHead(h);
                ruleLines = [.. ruleLines, $"head.weight: {h.Name}"];
            }
            if ((request.Embedding.Kept ?? request.Head.Kept) is { } keptType && keptType != TensorDataType.F16)
            {
                builder.KeepEmbeddingAndHeadAs(keptType);
                ruleLines = [.. ruleLines, $"embedding and head kept in {keptType}"];
            }
            return builder.Build();
        }
        // A budget allocation's plan needs the calibration, so its pipeline is built after it; its rules are checked now.
        string description = "";
        IReadOnlyList<string> rules;
        HybridQuantizer? quantizer = null;
        if (request.Allocate)
            rules = TensorTypeRule.Apply(request.Rules, HybridQuantizer.CreateBuilder(), blockMatrices, model.Tensors.Keys);
        else
            quantizer = Build(plan, out description, out rules);
        bool calibrated = quantizer?.RequiresCalibration ?? true;
        bool usesImportance = quantizer?.UsesImportance == true;
        bool collectImportance = !calibrated && usesImportance && request.ImportancePath is null;
        if (request.ImportancePath is not null && (calibrated || !usesImportance))
        {
            throw new ArgumentException(calibrated
                ? $"--imatrix serves the -imat methods (k-quants weighted by importances); {request.Method} calibrates block by block with full Hessians " +
                    $"and does not read it."
                : $"--imatrix: {request.Method} quantizes from the weights alone and reads no importance matrix; use a -imat method (e.g. " +
                    $"{request.Method}-imat where there is one).");
        }
        bool needsText = calibrated || collectImportance;
        if (request.ModelPath is not null && needsText && request.CalibrationPath is null)
        {
            throw new ArgumentException(collectImportance
                ? $"--method {request.Method} weights by an importance matrix: give --calib (it is collected in one pass) or --imatrix (made once by " +
                    $"`rwkvquant imatrix`)."
                : $"--calib is required: {request.Method} calibrates with the model's activations (without a model file, the embedded default model uses " +
                    $"the reference-pack calibration split).");
        }
        if (!needsText && request.CalibrationPath is not null)
            throw new ArgumentException($"--calib is not used: {request.Method} quantizes from the weights " +
                $"alone{(request.ImportancePath is null ? "" : " and the importance matrix")}; leave it out.");
        // The tokenizer only where text is read or generated; made now, so a missing --vocab fails before the work, not after it.
        bool evaluates = request.EvaluationPath is not null || request.EvaluationRange is not null
            || (request.ModelPath is null && request.EvaluationBytes > 0);
        ITokenizer? tokenizer = needsText || evaluates || request.SpeedTokens > 0 ? createTokenizer(model.Config) : null;
        // Checked against the model by the pipeline before it quantizes anything (the message names the file).
        ImportanceMatrix? importance = request.ImportancePath is { } importancePath ? ImportanceMatrix.Load(importancePath) : null;

        TextSource? calibrationText = needsText ? TextSource.Resolve(request.CalibrationPath, request.CalibrationRange, CorpusSplit.Calibration, corpus) : null;
        TextSource? evaluationText = request.EvaluationPath is not null || request.EvaluationRange is not null
            ? TextSource.Resolve(request.EvaluationPath, request.EvaluationRange, CorpusSplit.Evaluation, corpus)
            : request.ModelPath is null && request.EvaluationBytes > 0 ? TextSource.Sample(corpus.Value, CorpusSplit.Evaluation, request.EvaluationBytes)
            : null;
        if (evaluationText is not null && calibrationText is not null)
            TextSource.EnsureDisjoint(calibrationText, request.CalibrationRange, evaluationText, request.EvaluationRange);
        CalibrationData? data = calibrationText is null ? null : CalibrationData.FromDocuments(calibrationText.Texts, tokenizer!, request.Calibration);

        var before = new List<PhaseReport>();
        using (var process = System.Diagnostics.Process.GetCurrentProcess())
            before.Add(new PhaseReport("load", clock.Elapsed.TotalSeconds, process.TotalProcessorTime.TotalSeconds, process.PeakWorkingSet64));
        if (request is { Allocate: true, BitsPerWeight: { } allocation })
        {
            plan = Allocate(console, model, data!, allocation, request.Codebooks, cancellationToken);
            quantizer = Build(plan, out description, out rules);
        }
        else if (collectImportance)
        {
            console.WriteLine($"collecting the importance matrix: {data!.Samples.Count} × {request.Calibration.TokensPerSample} tokens through the float " +
                $"model");
            importance = PlainProgress.WithStatus(console, "importance matrix", status => ImportanceMatrix.Collect(model, data, calibrationText!.Description,
                new SynchronousProgress<CalibrationProgress>(p => status($"importance matrix: {p.SamplesDone}/{p.SampleCount} " +
                    $"sample-blocks")), cancellationToken));
        }
        console.WriteLine(description);
        foreach (string line in rules)
            console.WriteLine($"override {line}");
        if (calibrated)
            console.WriteLine($"memory estimate: {MemoryEstimate.For(model, request.Calibration, holdsOutput: false)}");
        using (var process = System.Diagnostics.Process.GetCurrentProcess())
        {
            // Planning is instant except for a budget allocation (every matrix at every candidate setting) or an importance matrix's pass.
            PhaseReport load = before[0];
            string phase = plan?.IsAllocated == true ? "allocation" : collectImportance ? "importance" : "planning";
            before.Add(new PhaseReport(phase, clock.Elapsed.TotalSeconds - load.WallSeconds,
                process.TotalProcessorTime.TotalSeconds - load.CpuSeconds, process.PeakWorkingSet64));
        }

        Task<HybridQuantizationResult> Quantize(IProgress<HybridProgress> progress) => calibrated
            ? quantizer!.QuantizeToFileAsync(model, data!, request.OutputPath, progress, cancellationToken)
            : quantizer!.QuantizeWithoutCalibrationToFileAsync(model, importance, request.OutputPath, progress, cancellationToken);
        string stage = calibrated ? "calibrating" : "quantizing";
        HybridQuantizationResult result;
        if (console.Profile.Capabilities.Interactive && !CliContext.IsQuiet)
        {
            result = console.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(progressContext =>
                {
                    ProgressTask task = progressContext.AddTask("quantizing");
                    var progress = new SynchronousProgress<HybridProgress>(p =>
                    {
                        task.MaxValue = Math.Max(1, p.TensorCount);
                        task.Value = p.TensorsDone;
                        task.Description = p.TensorName is null
                            ? $"block {p.Block + 1}/{p.BlockCount}: {stage}"
                            : $"block {p.Block + 1}/{p.BlockCount}: {Markup.Escape(p.TensorName)}";
                    });
                    return Quantize(progress).GetAwaiter().GetResult();
                });
        }
        else
        {
            var progress = new SynchronousProgress<HybridProgress>(p =>
            {
                if (p.TensorName is null && !CliContext.IsQuiet)
                {
                    string stageText = calibrated ? "calibrating and quantizing" : "quantizing";
                    console.WriteLine($"[{Invariant(clock.Elapsed.TotalSeconds, "F1")} s, {Invariant(ResidentGigabytes(), "F2")} GB] " +
                                      $"block {p.Block + 1}/{p.BlockCount}: {stageText} ({p.TensorsDone}/{p.TensorCount} tensors done)");
                }
            });
            result = Quantize(progress).GetAwaiter().GetResult();
        }
        QuantizedModel q = result.Model;
        long fileBytes = new FileInfo(request.OutputPath).Length;
        Cost cost = Cost.Measure(clock.Elapsed, before, result.Phases);
        console.WriteLine($"quantized and saved: {cost}");
        if (evaluationText is not null || request.SpeedTokens > 0)
            console.WriteLine($"wrote {request.OutputPath}; measuring the float32 and the quantized model");
        BeforeAfter.QualityReport? quality = evaluationText is null ? null
            : BeforeAfter.MeasureQuality(console, model, q, evaluationText, tokenizer!, cancellationToken);
        BeforeAfter.SpeedReport? speed = request.SpeedTokens == 0 ? null
            : BeforeAfter.MeasureSpeed(console, model, q, tokenizer!, request.SpeedTokens, cancellationToken);
        string? speedWarning = speed is null ? null : BenchCommand.UnoptimisedKernelsWarning();
        int matrices = result.Tensors.Count(t => t.Kind == HybridTensorKind.Matrix);
        int scalarMatrices = result.Tensors.Count(t => t.Kind == HybridTensorKind.Matrix && t.Method == HybridMethod.Scalar);
        if (json)
        {
            if (speedWarning is not null)
                console.MarkupLine($"[yellow]{Markup.Escape(speedWarning)}[/]"); // the progress console: stderr
            context.WriteJson(new Report(request.ModelPath ?? ModelChoice.DisplayName(null), model.Config.Version.ToString(),
                request.Method, request.Preset, ImportanceSource(request, importance),
                calibrationText is null ? null
                    : new CalibrationReport(calibrationText.Name, request.CalibrationRange?.ToString(), data!.Samples.Count,
                        request.Calibration.TokensPerSample),
                description, result.Selector, hybrid && request.Thresholds is null ? request.ScalarFraction : null, request.BitsPerWeight, request.Codebooks,
                request.OutputPath, fileBytes, cost,
                new Totals(matrices, scalarMatrices, result.ScalarFractionByCount, result.ScalarFractionByParameters,
                    q.QuantizedTensors.Count, q.QuantizedParameterCount, q.QuantizedStoredBits, q.QuantizedBitsPerWeight, q.ParameterCount, q.StoredBits, q.BitsPerWeight),
                quality, speed,
                [.. result.Tensors.Select(t => new TensorReport(t.Name, t.Kind, CliJson.Finite(t.CoarseProxy), CliJson.Finite(t.FineProxy), t.Method, t.Scheme,
                    t.Parameters, t.StoredBits, t.BitsPerWeight, CliJson.Finite(t.RelativeError)))]));
            return 0;
        }

        var table = new Table { Border = TableBorder.Rounded };
        foreach (string column in new[] { "tensor", "kind", "P_c", "P_f", "method", "scheme", "params", "bpw", "rel. error" })
            table.AddColumn(column is "tensor" or "kind" or "method" or "scheme" ? new TableColumn(column) : new TableColumn(column).RightAligned());
        foreach (HybridTensorReport t in result.Tensors)
        {
            table.AddRow(
                Markup.Escape(t.Name),
                t.Kind switch
                {
                    HybridTensorKind.Matrix => "matrix", HybridTensorKind.MultiplicationVector => "mul. vector", HybridTensorKind.EmbeddingOrHead => "emb/head",
                    _ => "other",
                },
                Optional(t.CoarseProxy, "F3"),
                Optional(t.FineProxy, "F2"),
                t.Method switch { HybridMethod.Scalar => "SQ", HybridMethod.Vector => "VQ", HybridMethod.Codebook => "codebook", _ => "kept" },
                Markup.Escape(t.Scheme),
                Invariant(t.Parameters, "N0"),
                Invariant(t.BitsPerWeight, "F4"),
                Optional(t.RelativeError, "E3"));
        }
        console.Write(table);

        console.WriteLine($"model: {ModelChoice.DisplayName(request.ModelPath)} ({model.Config.Version}); " + (calibrationText is null
            ? $"no calibration{(importance is null ? "" : $"; importance matrix {ImportanceSource(request, importance)}")}"
            : $"calibration: {calibrationText.Description}, {data!.Samples.Count} × {request.Calibration.TokensPerSample} tokens"));
        console.WriteLine($"method: {request.Method}{(request.Preset is null ? "" : $" (preset {request.Preset})")}; selector: {result.Selector}" +
                          (hybrid && request.Thresholds is null ? $" (scaled for {Percent(request.ScalarFraction, "F0")} SQ by count)" : "") +
                          (request.BitsPerWeight is { } target ? $"; budget {Invariant(target, "G4")} bpw" : ""));
        console.WriteLine($"SQ: {scalarMatrices}/{matrices} matrices = " +
            $"{Percent(result.ScalarFractionByCount, "F1")} by count, " +
                          $"{Percent(result.ScalarFractionByParameters, "F1")} by parameters");
        console.WriteLine($"quantized tensors: {q.QuantizedTensors.Count}, " +
            $"{Invariant(q.QuantizedParameterCount, "N0")} parameters, {Invariant(q.QuantizedBitsPerWeight, "F4")} bpw");
        console.WriteLine($"whole model: {Invariant(q.ParameterCount, "N0")} parameters, {Invariant(q.BitsPerWeight, "F4")} bpw");
        console.Write(BeforeAfter.Render(model, q, fileBytes, quality, speed));
        if (speed is not null)
        {
            console.WriteLine($"engine products: {EngineKernels.DescribePaths()}");
            console.WriteLine($"engine {EngineKernels.DescribeThreads()}");
        }
        if (speedWarning is not null)
            console.MarkupLine($"[yellow]{Markup.Escape(speedWarning)}[/]");
        if (quality is not null)
            console.WriteLine($"bits per byte and KL on {quality.Text}, {Invariant(quality.Bytes, "N0")} bytes");
        console.Write(cost.PhaseTable());
        console.WriteLine($"wrote {request.OutputPath} ({Invariant(fileBytes, "N0")} bytes); quantizing cost {cost}");
        return 0;
    }

    /// <summary>Where the importance matrix came from, for the report; null when none was used.</summary>
    private static string? ImportanceSource(Request request, ImportanceMatrix? importance) =>
        importance is null ? null : request.ImportancePath ?? $"collected from the calibration ({importance.TokenCount:N0} tokens)";

    private static string Percent(double fraction, string format) => Invariant(100 * fraction, format) + "%";

    private static string Optional(double? value, string format) => value is { } v ? Invariant(v, format) : "-";

    private static string Invariant(IFormattable value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}
