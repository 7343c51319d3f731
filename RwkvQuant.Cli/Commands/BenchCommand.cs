using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Reflection;
using RwkvQuant.Inference;
using RwkvQuant.Kernels.Accelerators;
using RwkvQuant.Models;
using RwkvQuant.Tokenizers;
using Spectre.Console;
using static TorchSharp.torch;

namespace RwkvQuant.Cli.Commands;

/// <summary>
/// <c>rwkvquant bench &lt;model&gt;</c>: greedy recurrent decoding with the inference engine, timed, for the model and
/// (for a <c>.rwkvq</c>) its full-precision source in the same run: tokens per second, weight bytes read per token,
/// and the ratios.
/// </summary>
internal static class BenchCommand
{
    public static Command Create(CliContext context)
    {
        var model = new ModelChoice("The model file: a quantized .rwkvq (run from its packed weights), or an rwkv.cpp .bin, .pth or safetensors (float32).");
        var tokens = new Option<int>("--tokens") { Description = "Decoded tokens to time.", DefaultValueFactory = _ => 64 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed tokens decoded first: at least this many, and for at least one second, so that the JIT's tiered compilation has optimised the kernels before the clock starts.", DefaultValueFactory = _ => 8 };
        var source = new Option<FileInfo?>("--source")
        {
            Description = "The full-precision model the .rwkvq was quantized from. Default: the .rwkvq dequantized to float32 (the same shapes, so the same bytes and speed as its source).",
        };
        var prompt = new Option<string>("--prompt") { Description = "The text decoding starts from.", DefaultValueFactory = _ => "The" };
        var prefill = new Option<int>("--prefill")
        {
            Description = "Prompt tokens to time prompt processing on (the prompt's tokens repeated to this length, fed in runs that multiply many tokens at once); 0 skips it.",
            DefaultValueFactory = _ => 128,
        };
        var torch = new Option<bool>("--torch") { Description = "Also time the float32 TorchSharp network (RwkvNetwork.ForwardStep), the reference implementation." };
        var repeat = new Option<int>("--repeat", "-r")
        {
            Description = "Timed runs of --tokens steps each (after one warm-up); with more than one, tokens per second is their mean and ± their standard deviation.",
            DefaultValueFactory = _ => 1,
        };
        var tokenizer = new TokenizerChoice();
        var command = new Command("bench", "Time recurrent decoding (tokens per second, weight bytes read per token) of a quantized model against full precision.")
        {
            model.Model, tokens, warmup, source, prompt, prefill, torch, repeat,
        };
        context.Examples.Add(command,
            new("rwkvquant bench", "The embedded default model in float32 on the inference engine"),
            new("rwkvquant bench default-rwkv7.rwkvq --tokens 256", "A quantized model against its dequantized float32 twin, in the same run"),
            new("rwkvquant bench model.rwkvq --source model.bin --torch", "Against the float32 source file, and the TorchSharp network too"),
            new("rwkvquant bench model.rwkvq --threads 1", "On one thread, to see how decoding scales with threads"),
            new("rwkvquant bench model.rwkvq --repeat 5 --prefill 64 --json", "Five timed runs (mean ± standard deviation) and prompt processing, as JSON for scripts"));
        tokenizer.AddTo(command);
        context.AddJson(command);
        context.AddThreads(command);
        command.SetAction((parse, cancellationToken) => context.RunAsync(parse, token => Run(
            context,
            context.IsJson(parse),
            model.Path(parse),
            parse.GetValue(source)?.FullName,
            parse.GetValue(tokens),
            parse.GetValue(warmup),
            parse.GetRequiredValue(prompt),
            parse.GetValue(prefill),
            parse.GetValue(torch),
            parse.GetValue(repeat),
            config => tokenizer.Create(parse, config),
            token), cancellationToken));
        return command;
    }

    private static int Run(CliContext context, bool json, string? modelPath, string? sourcePath, int count, int warmup, string prompt, int prefill, bool torch,
        int repeats, Func<RwkvConfig, ITokenizer> createTokenizer, CancellationToken cancellationToken)
    {
        if (repeats < 1)
            throw new ArgumentException($"--repeat must be at least 1 (got {repeats}).");
        if (prefill < 0)
            throw new ArgumentException($"--prefill must be 0 or more (got {prefill}).");
        if (count < 1)
            throw new ArgumentException($"--tokens must be at least 1 (got {count}).");
        if (warmup < 0)
            throw new ArgumentException($"--warmup must be 0 or more (got {warmup}).");
        StoredModel stored = StoredModel.Load(modelPath);
        if (!stored.EngineRuns)
            throw new NotSupportedException($"The inference engine runs RWKV v6 and v7; '{ModelChoice.DisplayName(modelPath)}' is {stored.Config.Version}.");
        int[] promptTokens = createTokenizer(stored.Config).Encode(prompt);
        if (promptTokens.Length == 0)
            throw new ArgumentException("--prompt encodes to no tokens.");
        int[] prefillTokens = [.. Enumerable.Range(0, prefill).Select(i => promptTokens[i % promptTokens.Length])];

        var rows = new List<BenchRow>();
        RwkvModel? full = null;
        if (stored.Quantized is { } quantized)
        {
            rows.Add(Measure("quantized (.rwkvq)", string.Create(CultureInfo.InvariantCulture, $"{quantized.QuantizedBitsPerWeight:F3} bpw quantized, {quantized.BitsPerWeight:F3} overall"),
                stored.CreateEngine(), promptTokens, count, warmup, cancellationToken, prefillTokens, repeats));
            if (sourcePath is null)
            {
                // Dequantized tensor by tensor: the float32 weights, never also the whole quantized and float32 models.
                rows.Add(Measure("float32 (dequantized)", "32 bpw", stored.CreateDequantizedEngine(), promptTokens, count, warmup, cancellationToken, prefillTokens, repeats));
                full = torch ? stored.ToFullModel() : null;
            }
            else
            {
                full = CliContext.LoadModel(sourcePath);
                if (full.Config != quantized.Config)
                    throw new ArgumentException($"The source '{sourcePath}' is {full.Config}; the quantized model is {quantized.Config}.");
                rows.Add(Measure("float32 source", "32 bpw", RwkvEngine.Create(full), promptTokens, count, warmup, cancellationToken, prefillTokens, repeats));
            }
        }
        else
        {
            full = stored.Full!;
            rows.Add(Measure("float32", "32 bpw", RwkvEngine.Create(full), promptTokens, count, warmup, cancellationToken, prefillTokens, repeats));
        }
        if (torch)
            rows.Add(MeasureTorch(full!, promptTokens, count, warmup, cancellationToken));

        if (json)
        {
            context.WriteJson(new BenchReport(modelPath ?? ModelChoice.DisplayName(null), stored.Config.Version.ToString(), stored.Config.LayerCount,
                stored.Config.EmbeddingSize, stored.Config.VocabularySize, count, repeats, prefill, EngineKernels.DescribePaths(), EngineKernels.Threads,
                UnoptimisedKernelsWarning(), [.. rows.Select(BenchRowReport.From)]));
            return 0;
        }
        Render(context.Console, stored.Config, rows, count, repeats);
        return 0;
    }

    /// <summary>
    /// Least untimed decoding before the clock starts. .NET first runs a method as quickly compiled code and replaces it
    /// with optimised code only after it has been called a few times and a background compile has finished: short timed
    /// runs without this measured the unoptimised kernels (2–4× slower here).
    /// </summary>
    internal static readonly TimeSpan WarmupTime = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Decodes greedily: the prompt and the warm-up (at least <paramref name="warmup"/> steps and <see cref="WarmupTime"/>)
    /// untimed, then <paramref name="count"/> timed steps. With <paramref name="prefillTokens"/>, then times prompt
    /// processing too: those tokens prefilled into a fresh state, once untimed (the run-length code's compilation), then
    /// timed until at least <see cref="WarmupTime"/> has passed, the mean taken.
    /// </summary>
    internal static BenchRow Measure(string label, string weights, RwkvEngine engine, int[] prompt, int count, int warmup, CancellationToken cancellationToken,
        int[]? prefillTokens = null, int repeats = 1)
    {
        RwkvEngineState state = engine.CreateState();
        float[] logits = engine.Prefill(prompt, state, cancellationToken);
        void Step() => engine.Step(TensorPrimitives.IndexOfMax(logits), state, logits);
        var seconds = new double[repeats];
        seconds[0] = SecondsPerStep(Step, count, warmup, cancellationToken);
        for (int r = 1; r < repeats; r++)
            seconds[r] = SecondsPerStep(Step, count, 0, cancellationToken, warm: true);
        double? prefillSeconds = null;
        if (prefillTokens is { Length: > 0 })
        {
            engine.Prefill(prefillTokens, engine.CreateState(), cancellationToken);
            var stopwatch = Stopwatch.StartNew();
            int runs = 0;
            do
            {
                engine.Prefill(prefillTokens, engine.CreateState(), cancellationToken);
                runs++;
            }
            while (stopwatch.Elapsed < WarmupTime);
            prefillSeconds = stopwatch.Elapsed.TotalSeconds / runs / prefillTokens.Length;
        }
        double[] rates = [.. seconds.Select(t => 1 / t)];
        double spread = repeats > 1 ? MathNet.Numerics.Statistics.Statistics.StandardDeviation(rates) : 0;
        return new BenchRow(label, weights, engine.WeightBytesPerToken, seconds.Average(), prefillSeconds, spread, repeats);
    }

    /// <summary>Runs <paramref name="step"/> untimed for the warm-up (at least <paramref name="warmup"/> times and
    /// <see cref="WarmupTime"/>), then <paramref name="count"/> times timed; returns the mean seconds per timed step.</summary>
    private static double SecondsPerStep(Action step, int count, int warmup, CancellationToken cancellationToken, bool warm = false)
    {
        var warming = Stopwatch.StartNew();
        for (int i = 0; i < warmup || (!warm && warming.Elapsed < WarmupTime); i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            step();
        }
        var stopwatch = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            step();
        }
        return stopwatch.Elapsed.TotalSeconds / count;
    }

    private static BenchRow MeasureTorch(RwkvModel model, int[] prompt, int count, int warmup, CancellationToken cancellationToken)
    {
        using RwkvNetwork network = RwkvNetwork.Create(model);
        using RwkvState state = network.CreateState(1);
        int next = 0;
        void Step(int token)
        {
            using var scope = NewDisposeScope();
            float[] logits = network.ForwardStep(tensor(new long[] { token }), state)[0].data<float>().ToArray();
            next = TensorPrimitives.IndexOfMax(logits);
        }
        foreach (int token in prompt)
            Step(token);
        double seconds = SecondsPerStep(() => Step(next), count, warmup, cancellationToken);
        long bytes = 4 * (model.ParameterCount - model["emb.weight"].ElementCount + model.Config.EmbeddingSize);
        return new BenchRow("float32 TorchSharp network", "32 bpw", bytes, seconds);
    }

    private static void Render(IAnsiConsole console, RwkvConfig config, List<BenchRow> rows, int count, int repeats)
    {
        string runs = repeats > 1 ? string.Create(CultureInfo.InvariantCulture, $" in each of {repeats} timed runs (tokens / s: mean ± standard deviation)") : " each";
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RWKV {config.Version}, {config.LayerCount} layers × {config.EmbeddingSize} wide, vocabulary {config.VocabularySize}; {count} greedy decoding steps{runs}"));
        console.WriteLine($"products: {EngineKernels.DescribePaths()}");
        console.WriteLine(EngineKernels.DescribeThreads());
        if (UnoptimisedKernelsWarning() is { } warning)
            console.MarkupLine($"[yellow]{Markup.Escape(warning)}[/]");
        var table = new Table { Border = TableBorder.Rounded };
        table.AddColumn("run");
        table.AddColumn("weights");
        table.AddColumn(new TableColumn("weight MiB / token").RightAligned());
        table.AddColumn(new TableColumn("tokens / s").RightAligned());
        table.AddColumn(new TableColumn("ms / token").RightAligned());
        table.AddColumn(new TableColumn("weight GB/s").RightAligned());
        bool prefill = rows.Any(r => r.PrefillTokensPerSecond is not null);
        if (prefill)
            table.AddColumn(new TableColumn("prompt tokens / s").RightAligned());
        foreach (BenchRow row in rows)
        {
            var cells = new List<string>
            {
                Markup.Escape(row.Label),
                Markup.Escape(row.Weights),
                string.Create(CultureInfo.InvariantCulture, $"{row.BytesPerToken / 1048576.0:F3}"),
                row.Repeats > 1
                    ? string.Create(CultureInfo.InvariantCulture, $"{row.TokensPerSecond:F1} ± {row.TokensPerSecondStdDev:F1}")
                    : string.Create(CultureInfo.InvariantCulture, $"{row.TokensPerSecond:F1}"),
                string.Create(CultureInfo.InvariantCulture, $"{row.SecondsPerToken * 1000:F3}"),
                string.Create(CultureInfo.InvariantCulture, $"{row.BytesPerToken * row.TokensPerSecond / 1e9:F2}"),
            };
            if (prefill)
                cells.Add(row.PrefillTokensPerSecond is { } rate ? string.Create(CultureInfo.InvariantCulture, $"{rate:F1}") : "–");
            table.AddRow(cells.ToArray());
        }
        console.Write(table);
        if (rows.Count >= 2)
        {
            BenchRow quantized = rows[0], reference = rows[1];
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{quantized.Label} vs {reference.Label}: {(double)reference.BytesPerToken / quantized.BytesPerToken:F2}× fewer weight bytes per token, {quantized.TokensPerSecond / reference.TokensPerSecond:F2}× the tokens per second"));
            if (quantized.PrefillTokensPerSecond is { } a && reference.PrefillTokensPerSecond is { } b)
                console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"prompt processing: {a / b:F2}× the tokens per second"));
        }
    }

    /// <summary>
    /// A one-line warning when the assembly of the SIMD kernels (RwkvQuant.Kernels, or RwkvQuant.Core's inference engine)
    /// was compiled without optimisation (its <see cref="DebuggableAttribute"/> disables the JIT optimiser): such kernels
    /// run several times slower, so the tokens per second are not representative. Null when they are optimised, as the
    /// projects are in every configuration.
    /// </summary>
    internal static string? UnoptimisedKernelsWarning() =>
        UnoptimisedKernelsWarning(typeof(KernelDevice).Assembly, typeof(RwkvEngine).Assembly);

    /// <summary>The warning of <see cref="UnoptimisedKernelsWarning()"/> for <paramref name="assemblies"/>.</summary>
    internal static string? UnoptimisedKernelsWarning(params Assembly[] assemblies)
    {
        string[] unoptimised = [.. assemblies.Where(a => a.GetCustomAttribute<DebuggableAttribute>()?.IsJITOptimizerDisabled == true)
            .Select(a => a.GetName().Name ?? a.FullName ?? "?")];
        return unoptimised.Length == 0 ? null
            : $"warning: {string.Join(" and ", unoptimised)} {(unoptimised.Length == 1 ? "was" : "were")} compiled without optimisation; these speeds are not representative (build with -c Release or Optimize=true)";
    }

    /// <summary>One timed run.</summary>
    /// <summary>One timed engine: <paramref name="SecondsPerToken"/> is the mean over <paramref name="Repeats"/> timed
    /// runs, <paramref name="TokensPerSecondStdDev"/> the runs' standard deviation of tokens per second (0 for one run).</summary>
    internal sealed record BenchRow(string Label, string Weights, long BytesPerToken, double SecondsPerToken, double? PrefillSecondsPerToken = null,
        double TokensPerSecondStdDev = 0, int Repeats = 1)
    {
        public double TokensPerSecond => 1 / SecondsPerToken;

        /// <summary>Prompt tokens processed per second (null: not timed).</summary>
        public double? PrefillTokensPerSecond => 1 / PrefillSecondsPerToken;
    }

    /// <summary><c>bench --json</c>: the machine's product paths and threads, and one row per timed engine.</summary>
    internal sealed record BenchReport(string Model, string Version, int Layers, int Width, int Vocabulary, int Tokens, int Repeats, int PrefillTokens,
        string Products, int Threads, string? Warning, IReadOnlyList<BenchRowReport> Rows);

    internal sealed record BenchRowReport(string Run, string Weights, double WeightMiBPerToken, double TokensPerSecond, double TokensPerSecondStdDev,
        double MsPerToken, double WeightGBPerSecond, double? PromptTokensPerSecond)
    {
        public static BenchRowReport From(BenchRow row) => new(row.Label, row.Weights, row.BytesPerToken / 1048576.0, row.TokensPerSecond,
            row.TokensPerSecondStdDev, row.SecondsPerToken * 1000, row.BytesPerToken * row.TokensPerSecond / 1e9, row.PrefillTokensPerSecond);
    }
}
