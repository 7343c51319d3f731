using System.CommandLine;
using System.Globalization;
using RwkvQuant.Corpora;
using RwkvQuant.Evaluation;
using RwkvQuant.Models;
using RwkvQuant.Tokenizers;
using Spectre.Console;

namespace RwkvQuant.Cli.Commands;

/// <summary><c>rwkvquant eval &lt;model&gt; --text FILE</c>: bits per byte, bits per token, perplexity, speed.</summary>
internal static class EvalCommand
{
    public static Command Create(CliContext context)
    {
        var model = new ModelChoice("The model file (rwkv.cpp .bin, PyTorch .pth, safetensors or quantized .rwkvq).");
        var text = new Option<FileInfo?>("--text")
        {
            Description = "Evaluation text: a .jsonl file (one JSON object with a \"text\" field per line, e.g. lambada_test.jsonl) or a plain text file (one document). " +
                          "Required with a model file; without one, the default model is evaluated on the reference-pack evaluation split.",
        };
        var documents = new Option<string?>("--docs")
        {
            Description = "Documents of a .jsonl file (or of the evaluation split) to use, a..b with both ends included (0..127 = the first 128). Default: all.",
        };
        var batch = new Option<int>("--batch")
        {
            Description = "Documents per forward call (similar lengths are batched together).",
            DefaultValueFactory = _ => EvaluationOptions.Default.BatchSize,
        };
        var tokenizer = new TokenizerChoice();
        var command = new Command("eval", "Measure a model's bits per byte and perplexity on a text.") { model.Model, text, documents, batch };
        context.Examples.Add(command,
            new("rwkvquant eval", "Bits per byte of the embedded default model on the evaluation split of the .NET reference-pack documentation"),
            new("rwkvquant eval default-rwkv7.rwkvq --text lambada_test.jsonl --docs 5000..5152", "Bits per byte of a quantized model on 153 documents of a JSON-lines file"),
            new("rwkvquant eval model.bin --text lambada_test.jsonl --docs 5000..5152", "The same for any model file"),
            new("rwkvquant eval tiny-rwkv-6v0-1m-FP32.bin --text notes.txt --encoding utf16le", "A plain text file as UTF-16LE bytes (the v6 fixtures)"),
            new("rwkvquant eval --docs 0..99 --json", "The figures as JSON, for scripts"));
        tokenizer.AddTo(command);
        command.Add(model.Corpus);
        context.AddJson(command);
        context.AddThreads(command);
        command.SetAction((parse, cancellationToken) => context.RunAsync(parse, token =>
        {
            string? range = parse.GetValue(documents);
            string? modelPath = model.Path(parse);
            string? textPath = parse.GetValue(text)?.FullName;
            if (modelPath is not null && textPath is null)
                throw new ArgumentException("--text is required with a model file (without one, the embedded default model is evaluated on the reference-pack evaluation split).");
            return Run(
                context,
                context.IsJson(parse),
                modelPath,
                textPath,
                range is null ? null : DocumentRange.Parse(range),
                model.CorpusDirectory(parse),
                new EvaluationOptions { BatchSize = parse.GetValue(batch) },
                config => tokenizer.Create(parse, config),
                token);
        }, cancellationToken));
        return command;
    }

    /// <summary>What <c>eval --json</c> writes.</summary>
    /// <param name="Model">The model file, or the default model's name.</param>
    /// <param name="Text">The text file, or which corpus split.</param>
    internal sealed record Report(string Model, string Version, long Parameters, string Text, string? Documents, string Encoding,
        int DocumentCount, long TokenCount, long ByteCount, double? BitsPerByte, double? BitsPerToken, double? NatsPerToken, double? Perplexity,
        double Seconds, double? TokensPerSecond);

    private static int Run(CliContext context, bool json, string? modelPath, string? textPath, DocumentRange? range, string? corpusDirectory,
        EvaluationOptions options, Func<RwkvConfig, ITokenizer> createTokenizer, CancellationToken cancellationToken)
    {
        RwkvModel model = ModelChoice.Load(modelPath);
        ITokenizer tokenizer = createTokenizer(model.Config);
        TextSource source = textPath is not null
            ? TextSource.FromFile(textPath, range)
            : TextSource.FromCorpus(TextSource.LoadCorpus(corpusDirectory, cancellationToken), CorpusSplit.Evaluation, range);
        int[][] documents = source.Texts.Select(tokenizer.Encode).ToArray();
        using RwkvNetwork network = RwkvNetwork.Create(model);

        IAnsiConsole console = context.ProgressConsole(json);
        PerplexityResult result = EvaluationProgressBar.Run(console, "scoring tokens",
            progress => PerplexityEvaluator.Evaluate(network, documents, tokenizer, options, progress, cancellationToken));

        string modelName = modelPath ?? ModelChoice.DisplayName(null);
        if (json)
        {
            context.WriteJson(new Report(modelName, model.Config.Version.ToString(), model.ParameterCount, source.Name, range?.ToString(), EncodingName(tokenizer),
                result.DocumentCount, result.TokenCount, result.ByteCount, CliJson.Finite(result.BitsPerByte), CliJson.Finite(result.BitsPerToken),
                CliJson.Finite(result.NatsPerToken), CliJson.Finite(result.Perplexity), result.Elapsed.TotalSeconds, CliJson.Finite(result.TokensPerSecond)));
            return 0;
        }
        var table = new Table { Border = TableBorder.Rounded, ShowHeaders = false };
        table.AddColumn("measure");
        table.AddColumn(new TableColumn("value").RightAligned());
        void Row(string name, string value) => table.AddRow(Markup.Escape(name), Markup.Escape(value));
        Row("model", $"{ModelChoice.DisplayName(modelPath)} ({model.Config.Version}, {model.ParameterCount.ToString("N0", CultureInfo.InvariantCulture)} parameters)");
        Row("text", source.Description + (range is null ? "" : " (inclusive)"));
        Row("documents", Invariant(result.DocumentCount, "N0"));
        Row("tokens scored", Invariant(result.TokenCount, "N0"));
        Row($"bytes scored ({EncodingName(tokenizer)})", Invariant(result.ByteCount, "N0"));
        Row("bits per byte", Invariant(result.BitsPerByte, "F4"));
        Row("bits per token", Invariant(result.BitsPerToken, "F4"));
        Row("nats per token", Invariant(result.NatsPerToken, "F4"));
        Row("perplexity (per token)", Invariant(result.Perplexity, "F4"));
        Row("time", $"{Invariant(result.Elapsed.TotalSeconds, "F2")} s");
        Row("tokens per second", Invariant(result.TokensPerSecond, "N0"));
        context.Console.Write(table);
        return 0;
    }

    private static string EncodingName(ITokenizer tokenizer) =>
        tokenizer.TextEncoding.WebName == "utf-16" ? "UTF-16LE" : tokenizer.TextEncoding.WebName.ToUpperInvariant();

    private static string Invariant(IFormattable value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}
