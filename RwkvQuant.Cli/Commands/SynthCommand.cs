using System.CommandLine;
using System.Diagnostics;
using RwkvQuant.Formats;
using RwkvQuant.Models;
using Spectre.Console;

namespace RwkvQuant.Cli.Commands;

/// <summary>
/// <c>rwkvquant synth &lt;shape&gt; -o model.safetensors</c>: a model of a released RWKV shape with random weights of
/// realistic scale (<see cref="SyntheticModels"/>), written one tensor at a time, for measuring time and memory at real
/// sizes without downloading a checkpoint.
/// </summary>
internal static class SynthCommand
{
    public static Command Create(CliContext context)
    {
        var shape = new Argument<string>("shape")
        {
            Description = $"The released shape: {string.Join(", ", SyntheticModels.Shapes.Select(s => s.Name))}.",
        };
        var layers = new Option<int?>("--layers") { Description = "Only the first N blocks (real width, fewer layers), to measure a few blocks of a large model." };
        var type = new Option<string>("--type")
        {
            Description = "Stored element type: f16 (as released checkpoints), bf16 or f32.",
            DefaultValueFactory = _ => "f16",
        };
        var seed = new Option<int>("--seed") { Description = "Seed of the random weights; the same seed gives the same file.", DefaultValueFactory = _ => 1 };
        var output = new Option<FileInfo>("--output", "-o") { Description = "The safetensors file to write, atomically.", Required = true };
        var command = new Command("synth",
            "Write a model of a released RWKV shape with random weights of realistic scale (BlinkDL names, safetensors), for measuring speed " +
            "and memory at real sizes. Its weights are not trained: never use it to judge quality.")
        {
            shape, layers, type, seed, output,
        };
        context.Examples.Add(command,
            new("rwkvquant synth rwkv7-0.1b -o rwkv7-0.1b.safetensors", "The RWKV-7 World 0.1B shape (12 × 768, vocabulary 65,536) in FP16, 382 MB"),
            new("rwkvquant synth rwkv6-14b --layers 2 -o two-blocks.safetensors", "Two real-width blocks of the RWKV-6 14B shape"),
            new("rwkvquant synth rwkv7-0.1b -o rwkv7-0.1b.safetensors --json", "The same, the file's shape and size as JSON"));
        context.AddJson(command);
        command.SetAction((parse, cancellationToken) => context.RunAsync(parse, token =>
        {
            SyntheticShape chosen = SyntheticModels.Find(parse.GetValue(shape)!);
            if (parse.GetValue(layers) is { } count)
            {
                if (count < 1 || count > chosen.LayerCount)
                    throw new ArgumentException($"--layers is {count}; {chosen.Name} has 1 to {chosen.LayerCount}.");
                chosen = chosen with { LayerCount = count };
            }
            TensorDataType stored = parse.GetValue(type)!.ToLowerInvariant() switch
            {
                "f16" => TensorDataType.F16,
                "bf16" => TensorDataType.BF16,
                "f32" => TensorDataType.F32,
                string other => throw new ArgumentException($"--type is '{other}'; it is f16, bf16 or f32."),
            };
            string path = parse.GetValue(output)!.FullName;
            AtomicFile.EnsureWritable(path);
            long parameters = chosen.ParameterCount;
            bool json = context.IsJson(parse);
            IAnsiConsole console = context.ProgressConsole(json);
            console.MarkupLineInterpolated(
                $"{chosen.Name}: RWKV {chosen.Version}, {chosen.LayerCount} layers × {chosen.Width}, FFN {chosen.FeedForwardSize}, vocabulary {chosen.VocabularySize}, {parameters:N0} parameters, {stored}");
            var clock = Stopwatch.StartNew();
            SyntheticModels.Write(chosen, path, stored, parse.GetValue(seed), progress: null, token);
            if (json)
            {
                context.WriteJson(new Report(chosen.Name, chosen.Version.ToString(), chosen.LayerCount, chosen.Width, chosen.FeedForwardSize, chosen.VocabularySize,
                    parameters, stored.ToString().ToLowerInvariant(), path, new FileInfo(path).Length, clock.Elapsed.TotalSeconds));
                return 0;
            }
            console.MarkupLineInterpolated(
                $"wrote {path}: {new FileInfo(path).Length:N0} bytes in {clock.Elapsed.TotalSeconds:F1} s (random weights of realistic scale, not trained)");
            return 0;
        }, cancellationToken));
        return command;
    }

    /// <summary>What <c>synth --json</c> writes.</summary>
    internal sealed record Report(string Shape, string Version, int Layers, int Width, int FeedForwardSize, int VocabularySize, long Parameters,
        string Type, string Output, long FileBytes, double Seconds);
}
