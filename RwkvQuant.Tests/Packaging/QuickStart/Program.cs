using RwkvQuant.Calibration;
using RwkvQuant.Corpora;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using RwkvQuant.Tokenizers;
using static TorchSharp.torch;

// Usage: dotnet run -- <model: rwkv.cpp .bin, .pth or .safetensors> <text: .jsonl or plain text> [out.rwkvq]
string modelPath = args[0], textPath = args[1], outputPath = args.Length > 2 ? args[2] : "model.rwkvq";

RwkvModel model = RwkvModelFile.Load(modelPath);
ITokenizer tokenizer = ByteTokenizer.Instance;   // byte-level model; Utf16LeByteTokenizer or WorldTokenizer for others
Console.WriteLine($"model: RWKV {model.Config.Version}, {model.Config.LayerCount} layers, {model.ParameterCount:N0} parameters");

// Calibration samples cut from documents 0..63 (a toy amount that keeps this quick: the defaults are 128 x 512 tokens).
CalibrationData calibration = CalibrationData.FromCorpus(textPath, DocumentRange.Parse("0..63"), tokenizer,
    new CalibrationOptions { SampleCount = 8, TokensPerSample = 64 });

// The default recipe: GPTQ 3-bit (act-order, groups of 32 with 6-bit scales) or GPTVQ per weight matrix as the proxy
// decides (90% GPTQ by count), activation-weighted codebooks for the element-wise multiplication vectors.
// (recipe: HybridRecipe.Paper gives the paper's settings.)
HybridPlan plan = HybridPlan.ForScalarFraction(model);
Console.WriteLine($"plan: {plan}");
HybridQuantizationResult result = await plan.Build().QuantizeAsync(model, calibration);
QuantizedModelFile.Save(result.Model, outputPath);

// Load the single-file quantized model back and run it next to the original.
QuantizedModel quantized = QuantizedModelFile.Load(outputPath);
Console.WriteLine($"bits per weight: {quantized.QuantizedBitsPerWeight:F4} (quantized tensors), {quantized.BitsPerWeight:F4} (whole model)");
using RwkvNetwork original = RwkvNetwork.Create(model);
using RwkvNetwork network = RwkvNetwork.Create(quantized.ToDequantizedModel());
long[] prompt = [.. tokenizer.Encode("Hello").Select(t => (long)t)];
foreach ((string name, RwkvNetwork net) in new[] { ("original", original), ("quantized", network) })
{
    using var scope = NewDisposeScope();
    Tensor logits = net.Forward(tensor(prompt, [1, prompt.Length]));   // [1, T, V]
    (Tensor top, Tensor next) = logits[0, -1].max(0);
    Console.WriteLine($"{name}: after \"Hello\" next byte {next.item<long>()}, logit {top.item<float>():F4}");
}
