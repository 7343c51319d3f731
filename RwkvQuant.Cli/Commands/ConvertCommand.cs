using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Scalar.Ggml;
using Spectre.Console;

namespace RwkvQuant.Cli.Commands;

/// <summary>
/// <c>rwkvquant convert [&lt;model&gt;] -o out.{bin,safetensors,pth} [--type T]</c>: writes a model (any container this
/// library reads; a <c>.rwkvq</c> dequantized) in another container, as <c>convert_pytorch_to_ggml.py</c> and
/// <c>llama-quantize</c> do for rwkv.cpp: the container comes from the output's extension, the element type from
/// <c>--type</c> (rwkv.cpp files also in Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, quantized as rwkv.cpp quantizes them).
/// </summary>
internal static class ConvertCommand
{
    /// <summary>Element types each output container takes.</summary>
    private static readonly Dictionary<string, string[]> TypesByExtension = new(StringComparer.OrdinalIgnoreCase)
    {
        [".bin"] = ["f32", "f16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0"],
        [".safetensors"] = ["f32", "f16", "bf16"],
        [".pth"] = ["f32"],
    };

    public static Command Create(CliContext context)
    {
        var model = new ModelChoice("The model to convert (rwkv.cpp .bin, PyTorch .pth, safetensors, or a quantized .rwkvq, written dequantized).");
        var output = new Option<FileInfo>("--output", "-o")
        {
            Description = "The file to write, atomically; its extension picks the container: .bin (rwkv.cpp), .safetensors (BlinkDL names) or .pth (PyTorch).",
            Required = true,
        };
        var type = new Option<string>("--type")
        {
            Description = "Element type: f32 or f16 for .bin, also q4_0, q4_1, q5_0, q5_1, q8_0 (rwkv.cpp's quantized files); f32, f16 or bf16 for .safetensors; f32 for .pth.",
            DefaultValueFactory = _ => "f32",
        };
        var command = new Command("convert", "Write a model in another container or element type: rwkv.cpp .bin (FP32, FP16, Q4_0 … Q8_0), safetensors, PyTorch .pth.")
        {
            model.Model, output, type,
        };
        context.Examples.Add(command,
            new("rwkvquant convert model.pth -o model.bin --type f16", "A BlinkDL checkpoint as an rwkv.cpp FP16 file"),
            new("rwkvquant convert model.bin -o model-Q5_1.bin --type q5_1", "An rwkv.cpp file quantized to Q5_1, as rwkv.cpp quantizes it"),
            new("rwkvquant convert model.rwkvq -o model.safetensors --type f16", "A quantized model, dequantized, as FP16 safetensors"));
        context.AddJson(command);
        command.SetAction((parse, cancellationToken) => context.RunAsync(parse, token =>
        {
            string path = parse.GetRequiredValue(output).FullName;
            string extension = Path.GetExtension(path).ToLowerInvariant();
            bool json = context.IsJson(parse);
            if (!TypesByExtension.TryGetValue(extension, out string[]? types))
                throw new ArgumentException($"-o '{path}': the extension '{extension}' names no container; use .bin (rwkv.cpp), .safetensors or .pth.");
            string chosen = parse.GetValue(type)!.ToLowerInvariant();
            if (!types.Contains(chosen))
                throw new ArgumentException($"--type {chosen} cannot be written to {extension}; it takes {string.Join(", ", types)}.");
            AtomicFile.EnsureWritable(path);
            string? source = model.Path(parse);
            var clock = Stopwatch.StartNew();
            RwkvModel loaded = ModelChoice.Load(source);
            Convert(loaded, path, extension, chosen, context.ProgressConsole(json), token);
            long bytes = new FileInfo(path).Length;
            string container = extension switch { ".bin" => "rwkv.cpp", ".safetensors" => "safetensors", _ => "PyTorch .pth" };
            if (json)
            {
                context.WriteJson(new Report(source ?? ModelChoice.DisplayName(null), path, container, chosen, loaded.Config.Version.ToString(), bytes,
                    clock.Elapsed.TotalSeconds));
                return 0;
            }
            context.Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {path} ({container}, {chosen.ToUpperInvariant()}, RWKV {loaded.Config.Version}): {bytes:N0} bytes in {clock.Elapsed.TotalSeconds:F1} s"));
            return 0;
        }, cancellationToken));
        return command;
    }

    private static void Convert(RwkvModel model, string path, string extension, string type, IAnsiConsole console, CancellationToken token)
    {
        switch (extension, type)
        {
            case (".safetensors", _):
                RwkvModelFile.SaveSafetensors(model, path, type switch { "f16" => TensorDataType.F16, "bf16" => TensorDataType.BF16, _ => TensorDataType.F32 });
                break;
            case (".pth", _):
                RwkvModelFile.SavePth(model, path);
                break;
            case (_, "f32" or "f16"):
                GgmlModelWriter.Write(model, path, type == "f16" ? GgmlType.F16 : GgmlType.F32);
                break;
            default:
                // rwkv.cpp's quantizer reads an FP32 file: one is written beside the target, quantized, then removed.
                string folder = Path.GetDirectoryName(path) ?? ".";
                string float32 = Path.Combine(folder, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.f32.tmp");
                try
                {
                    GgmlModelWriter.Write(model, float32, GgmlType.F32);
                    var plain = new PlainProgress(console);
                    GgmlQuantization.QuantizeFile(float32, path, Enum.Parse<GgmlType>(type, ignoreCase: true),
                        new SynchronousProgress<GgmlQuantizationProgress>(p => plain.Count($"quantizing to {type.ToUpperInvariant()}", p.Completed, p.Total, "tensors")), token);
                }
                finally
                {
                    File.Delete(float32);
                }
                break;
        }
    }

    private sealed record Report(string Model, string Output, string Container, string Type, string Version, long Bytes, double Seconds);
}
