using System.Globalization;
using RwkvQuant.Evaluation;
using RwkvQuant.Inference;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using RwkvQuant.Tokenizers;
using Spectre.Console;

namespace RwkvQuant.Cli.Commands;

/// <summary>
/// The figures <c>quantize</c> prints after writing the file, the float32 model against its quantized version: bits
/// per byte on held-out text and the KL divergence between them (<see cref="PerplexityEvaluator"/> and
/// <see cref="KlDivergenceEvaluator"/>, as <c>eval</c> and <c>compare</c> measure them), and greedy decoding speed on
/// the inference engine with the weight bytes each token reads (<see cref="BenchCommand.Measure"/>, as <c>bench</c>).
/// </summary>
internal static class BeforeAfter
{
    /// <summary>Held-out text, the default model's evaluation split sampled to about this many bytes by default.</summary>
    public const int DefaultEvaluationBytes = 32_768;

    /// <summary>Timed decoding steps per model by default.</summary>
    public const int DefaultSpeedTokens = 64;

    /// <summary>Untimed decoding steps before the timed ones.</summary>
    private const int WarmupTokens = 8;

    /// <summary>The prompt decoding starts from (as <c>bench</c>'s default).</summary>
    private const string Prompt = "The";

    /// <param name="Text">The text file, or which corpus split and which of its documents.</param>
    /// <param name="Documents">Documents scored.</param>
    /// <param name="Bytes">Bytes scored (the first token of each document has no prediction).</param>
    /// <param name="KlDivergence">Mean KL(float32 ‖ quantized) per token, in nats.</param>
    /// <param name="Top1Agreement">Share of positions where both models' most likely next token is the same.</param>
    internal sealed record QualityReport(string Text, int Documents, long Bytes, double? BitsPerByteBefore, double? BitsPerByteAfter,
        double? KlDivergence, double? MaxKlDivergence, double? Top1Agreement, double Seconds);

    /// <param name="Tokens">Timed greedy decoding steps per model.</param>
    /// <param name="WeightBytesPerTokenBefore">Weight bytes one token reads from the float32 model (RwkvEngine.WeightBytesPerToken).</param>
    /// <param name="WeightBytesPerTokenAfter">The same for the quantized model, read from its packed weights.</param>
    internal sealed record SpeedReport(int Tokens, double TokensPerSecondBefore, double TokensPerSecondAfter,
        long WeightBytesPerTokenBefore, long WeightBytesPerTokenAfter);

    /// <summary>Scores <paramref name="text"/> with both models and their KL divergence.</summary>
    public static QualityReport MeasureQuality(IAnsiConsole console, RwkvModel model, QuantizedModel quantized, TextSource text,
        ITokenizer tokenizer, CancellationToken cancellationToken)
    {
        var start = System.Diagnostics.Stopwatch.StartNew();
        int[][] documents = [.. text.Texts.Select(tokenizer.Encode)];
        using RwkvNetwork before = RwkvNetwork.Create(model);
        using RwkvNetwork after = RwkvNetwork.Create(quantized.ToDequantizedModel());
        PerplexityResult b = EvaluationProgressBar.Run(console, "bits per byte, float32",
            progress => PerplexityEvaluator.Evaluate(before, documents, tokenizer, progress: progress, cancellationToken: cancellationToken));
        PerplexityResult a = EvaluationProgressBar.Run(console, "bits per byte, quantized",
            progress => PerplexityEvaluator.Evaluate(after, documents, tokenizer, progress: progress, cancellationToken: cancellationToken));
        KlDivergenceResult kl = EvaluationProgressBar.Run(console, "KL divergence",
            progress => KlDivergenceEvaluator.Evaluate(before, after, documents, progress: progress, cancellationToken: cancellationToken));
        return new QualityReport(text.Description, b.DocumentCount, b.ByteCount, CliJson.Finite(b.BitsPerByte), CliJson.Finite(a.BitsPerByte),
            CliJson.Finite(kl.MeanKl), CliJson.Finite(kl.MaxKl), CliJson.Finite(kl.Top1Agreement), start.Elapsed.TotalSeconds);
    }

    /// <summary>Times greedy decoding of both models on the inference engine; null when it does not run the version (v6, v7 only).</summary>
    public static SpeedReport? MeasureSpeed(IAnsiConsole console, RwkvModel model, QuantizedModel quantized, ITokenizer tokenizer, int tokens,
        CancellationToken cancellationToken)
    {
        if (model.Config.Version is not (RwkvVersion.V6 or RwkvVersion.V7))
            return null;
        int[] prompt = tokenizer.Encode(Prompt);
        return PlainProgress.WithStatus(console, "timing decoding of the float32 model", status =>
        {
            BenchCommand.BenchRow before = BenchCommand.Measure("float32", "32 bpw", RwkvEngine.Create(model), prompt, tokens, WarmupTokens, cancellationToken);
            status("timing decoding of the quantized model");
            BenchCommand.BenchRow after = BenchCommand.Measure("quantized", "", RwkvEngine.Create(quantized), prompt, tokens, WarmupTokens, cancellationToken);
            return new SpeedReport(tokens, before.TokensPerSecond, after.TokensPerSecond, before.BytesPerToken, after.BytesPerToken);
        });
    }

    /// <summary>The before/after table.</summary>
    public static Table Render(RwkvModel model, QuantizedModel quantized, long fileBytes, QualityReport? quality, SpeedReport? speed)
    {
        var table = new Table { Border = TableBorder.Rounded };
        table.AddColumn("totals");
        table.AddColumn(new TableColumn("float32").RightAligned());
        table.AddColumn(new TableColumn("quantized").RightAligned());
        void Row(string name, string before, string after) => table.AddRow(Markup.Escape(name), Markup.Escape(before), Markup.Escape(after));
        Row("bits per weight, quantized tensors", "32", F(quantized.QuantizedBitsPerWeight, "F4"));
        Row("bits per weight, whole model", "32", F(quantized.BitsPerWeight, "F4"));
        Row("size (MB)", F(model.ParameterCount * 4 / 1e6, "F3"), F(fileBytes / 1e6, "F3") + " (file)");
        if (quality is not null)
        {
            Row("bits per byte", F(quality.BitsPerByteBefore, "F4"), F(quality.BitsPerByteAfter, "F4"));
            Row("KL divergence to float32 (nats/token)", "0", F(quality.KlDivergence, "E3"));
            Row("same top-1 token as float32", "100%", F(100 * quality.Top1Agreement, "F1") + "%");
        }
        if (speed is not null)
        {
            Row("tokens per second (engine, 1 stream)", F(speed.TokensPerSecondBefore, "F1"), F(speed.TokensPerSecondAfter, "F1"));
            Row("weight MiB read per token", F(speed.WeightBytesPerTokenBefore / 1048576.0, "F3"), F(speed.WeightBytesPerTokenAfter / 1048576.0, "F3"));
        }
        return table;
    }

    private static string F(double? value, string format) => value is { } v ? v.ToString(format, CultureInfo.InvariantCulture) : "-";
}
