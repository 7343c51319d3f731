using RwkvQuant.Calibration;
using RwkvQuant.Evaluation;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using RwkvQuant.Tokenizers;
using static TorchSharp.torch;

// Usage: dotnet run -- <model: rwkv.cpp .bin, .pth or .safetensors> <text: .jsonl or plain text> [out.rwkvq]
string modelPath = args[0], textPath = args[1], outputPath = args.Length > 2 ? args[2] : "model.rwkvq";

RwkvModel model = RwkvModelFile.Load(modelPath);
ITokenizer tokenizer = ByteTokenizer.Instance;   // byte-level model; Utf16LeByteTokenizer or WorldTokenizer for others
Console.WriteLine($"model: RWKV {model.Config.Version}, {model.Config.LayerCount} layers, {model.ParameterCount:N0} parameters");

// Calibration samples from documents 0..63; held-out documents 1000..1009 to measure what quantization costs.
CalibrationData calibration = CalibrationData.FromCorpus(textPath, DocumentRange.Parse("0..63"), tokenizer,
    new CalibrationOptions { SampleCount = 16, TokensPerSample = 128 }, evaluation: DocumentRange.Parse("1000..1009"));
List<int[]> heldOut = [.. TextCorpus.Load(textPath, DocumentRange.Parse("1000..1009")).Select(tokenizer.Encode)];

// The paper's settings: GPTQ 3-bit or GPTVQ per weight matrix as the proxy decides (90% GPTQ by count),
// activation-weighted codebooks for the element-wise multiplication vectors.
HybridPlan plan = HybridPlan.ForScalarFraction(model);
Console.WriteLine($"plan: {plan}");
HybridQuantizationResult result = await plan.Build().QuantizeAsync(model, calibration);
QuantizedModelFile.Save(result.Model, outputPath);

// Load the single-file quantized model back and run it.
QuantizedModel quantized = QuantizedModelFile.Load(outputPath);
Console.WriteLine($"bits per weight: {quantized.QuantizedBitsPerWeight:F4} (quantized tensors), {quantized.BitsPerWeight:F4} (whole model)");
using RwkvNetwork original = RwkvNetwork.Create(model);
using RwkvNetwork network = RwkvNetwork.Create(quantized.ToDequantizedModel());
double before = PerplexityEvaluator.Evaluate(original, heldOut, tokenizer).BitsPerByte;
double after = PerplexityEvaluator.Evaluate(network, heldOut, tokenizer).BitsPerByte;
Console.WriteLine($"bits per byte: {before:F4} -> {after:F4}");

using (NewDisposeScope())
{
    long[] prompt = [.. tokenizer.Encode("Hello").Select(t => (long)t)];
    Tensor logits = network.Forward(tensor(prompt, [1, prompt.Length]));   // [1, T, V]
    (Tensor top, Tensor next) = logits[0, -1].max(0);
    Console.WriteLine($"after \"Hello\": next byte {next.item<long>()}, logit {top.item<float>():F4}");
}
