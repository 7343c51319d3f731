using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using RwkvQuant.Generation;
using RwkvQuant.Inference;
using RwkvQuant.Models;
using RwkvQuant.Tokenizers;
using Spectre.Console;

namespace RwkvQuant.Cli.Commands;

/// <summary>
/// <c>rwkvquant generate &lt;model&gt; --prompt TEXT</c>: streams generated text, then tokens per second. A v6/v7
/// <c>.rwkvq</c> runs on the inference engine straight from its packed weights, and the weight bytes read per token
/// are reported too; other models run on the float32 TorchSharp network.
/// </summary>
internal static class GenerateCommand
{
    public static Command Create(CliContext context)
    {
        var model = new ModelChoice("The model file (rwkv.cpp .bin, PyTorch .pth, safetensors, or a quantized .rwkvq run from its packed weights).");
        var prompt = new Option<string>("--prompt") { Description = "The text to continue.", Required = true };
        var tokens = new Option<int>("--tokens") { Description = "Tokens to generate.", DefaultValueFactory = _ => 100 };
        var temperature = new Option<double>("--temperature")
        {
            Description = "Softmax temperature; 0 is greedy (always the most likely token).",
            DefaultValueFactory = _ => 1.0,
        };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling: keep the most likely tokens up to this probability mass.", DefaultValueFactory = _ => 1.0 };
        var seed = new Option<int?>("--seed") { Description = "Random seed, for reproducible sampling." };
        var tokenizer = new TokenizerChoice();
        var command = new Command("generate", "Continue a prompt (recurrent mode, one token at a time).") { model.Model, prompt, tokens, temperature, topP, seed };
        context.Examples.Add(command,
            new("rwkvquant generate --prompt \"Gets or sets the\" --tokens 200 --temperature 0", "Greedy text from the embedded default model"),
            new("rwkvquant generate default-rwkv7.rwkvq --prompt \"Represents a\" --temperature 0.8 --top-p 0.9 --seed 1", "Sampled text from a quantized model, run from its packed weights"),
            new("rwkvquant generate tiny-rwkv-6v0-1m-FP32.bin --encoding utf16le --prompt \"The old man said\" --tokens 200", "Any model file (the v6 fixtures want UTF-16LE)"),
            new("rwkvquant generate --prompt \"Gets the\" --tokens 20 --temperature 0 --json", "The text, its tokens and the rates as JSON"));
        tokenizer.AddTo(command);
        context.AddJson(command);
        context.AddThreads(command);
        command.SetAction((parse, cancellationToken) => context.RunAsync(parse, token =>
        {
            var sampling = new SamplingOptions
            {
                Temperature = parse.GetValue(temperature),
                TopP = parse.GetValue(topP),
                Seed = parse.GetValue(seed),
            };
            return Run(context, context.IsJson(parse), model.Path(parse), parse.GetRequiredValue(prompt), parse.GetValue(tokens), sampling,
                config => tokenizer.Create(parse, config), token);
        }, cancellationToken));
        return command;
    }

    /// <summary>What <c>generate --json</c> writes.</summary>
    /// <param name="Text">The generated text without the prompt (undecodable bytes as \xNN).</param>
    /// <param name="Tokens">The generated token ids.</param>
    /// <param name="PromptSeconds">The prompt pass and the first sample.</param>
    /// <param name="TokensPerSecond">Generation rate after the first token; null with fewer than two.</param>
    /// <param name="Runner">"quantized engine" (a v6/v7 .rwkvq from its packed weights) or "float32 network".</param>
    /// <param name="WeightBytesPerToken">Weight bytes the engine reads per token; null on the float32 network.</param>
    internal sealed record Report(string Model, string Prompt, int PromptTokens, string Text, IReadOnlyList<int> Tokens, double PromptSeconds,
        double? TokensPerSecond, string Runner, long? WeightBytesPerToken, double Temperature, double TopP, int? Seed);

    private static int Run(CliContext context, bool json, string? modelPath, string prompt, int count, SamplingOptions sampling,
        Func<RwkvConfig, ITokenizer> createTokenizer, CancellationToken cancellationToken)
    {
        if (count < 0)
            throw new ArgumentException($"--tokens must be 0 or more (got {count}).");
        StoredModel stored = StoredModel.Load(modelPath);
        ITokenizer tokenizer = createTokenizer(stored.Config);
        int[] promptTokens = tokenizer.Encode(prompt);
        RwkvEngine? engine = stored.Quantized is not null && stored.EngineRuns ? stored.CreateEngine() : null;
        using RwkvNetwork? network = engine is null ? RwkvNetwork.Create(stored.ToFullModel()) : null;
        IEnumerable<int> generation = engine is not null
            ? TextGenerator.Generate(engine, promptTokens, count, sampling, tokenizer.EndOfTextToken, cancellationToken)
            : TextGenerator.Generate(network!, promptTokens, count, sampling, tokenizer.EndOfTextToken, cancellationToken);

        TextWriter output = json ? new StringWriter() : context.Console.Profile.Out.Writer; // JSON: the text goes into the report
        var generatedTokens = new List<int>();
        Decoder decoder = VisibleBytes.Showing(tokenizer.TextEncoding).GetDecoder(); // invalid bytes as \xNN
        if (!json)
        {
            output.Write(prompt);
            output.Flush();
        }
        var stopwatch = Stopwatch.StartNew();
        TimeSpan promptTime = TimeSpan.Zero;
        int generated = 0;
        foreach (int token in generation)
        {
            if (generated++ == 0)
                promptTime = stopwatch.Elapsed; // the prompt pass and the first sample
            generatedTokens.Add(token);
            output.Write(DecodeIncrementally(decoder, tokenizer.DecodeBytes([token]), flush: false));
            output.Flush();
        }
        output.Write(DecodeIncrementally(decoder, [], flush: true));
        TimeSpan total = stopwatch.Elapsed;

        double stepSeconds = (total - promptTime).TotalSeconds;
        if (json)
        {
            context.WriteJson(new Report(modelPath ?? ModelChoice.DisplayName(null), prompt, promptTokens.Length, output.ToString()!, generatedTokens,
                promptTime.TotalSeconds, generated > 1 ? (generated - 1) / Math.Max(stepSeconds, 1e-9) : null,
                engine is null ? "float32 network" : "quantized engine", engine?.WeightBytesPerToken, sampling.Temperature, sampling.TopP, sampling.Seed));
            return 0;
        }
        output.WriteLine();
        string speed = generated > 1
            ? $"{((generated - 1) / Math.Max(stepSeconds, 1e-9)).ToString("F1", CultureInfo.InvariantCulture)} tokens/s"
            : "n/a";
        string weights = engine is null
            ? ""
            : string.Create(CultureInfo.InvariantCulture, $"; quantized engine, {engine.WeightBytesPerToken / 1048576.0:F3} MiB of weights read per token")
              + (generated > 1 ? string.Create(CultureInfo.InvariantCulture, $" ({engine.WeightBytesPerToken * (generated - 1) / Math.Max(stepSeconds, 1e-9) / 1e9:F2} GB/s)") : "");
        context.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[{promptTokens.Length} prompt tokens in {promptTime.TotalSeconds:F2} s{PromptRate(promptTokens.Length, promptTime, generated)}; {generated} generated tokens, {speed} after the first{weights}]"));
        return 0;
    }

    /// <summary>", N tokens/s" for the prompt pass, when there was one: it also samples the first token and, in a fresh process, compiles the engine's code (a small model's prompt rate is mostly that; <c>bench</c> times prompt processing warm).</summary>
    private static string PromptRate(int promptTokens, TimeSpan promptTime, int generated) =>
        generated > 0 && promptTokens > 0 && promptTime > TimeSpan.Zero
            ? string.Create(CultureInfo.InvariantCulture, $" ({promptTokens / promptTime.TotalSeconds:F1} tokens/s, counting the first sample and start-up compilation)")
            : "";

    private static string DecodeIncrementally(Decoder decoder, byte[] bytes, bool flush)
    {
        var chars = new char[decoder.GetCharCount(bytes, flush)];
        int written = decoder.GetChars(bytes, chars, flush);
        return new string(chars, 0, written);
    }
}
