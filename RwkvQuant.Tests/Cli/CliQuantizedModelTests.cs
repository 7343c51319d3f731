using RwkvQuant.Formats;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar.Rtn;

namespace RwkvQuant.Tests.Cli;

public sealed class CliQuantizedModelTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("rwkvquant-cli-rwkvq-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [FixtureFact]
    public async Task Info_and_eval_accept_a_quantized_model_file()
    {
        RwkvModel model = RwkvModelFile.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin"));
        var rtn = new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = 3, GroupSize = 64 });
        QuantizedTensor[] quantized = LinearWeights.Of(model).Where(w => w.Block >= 0)
            .Select(w => rtn.Quantize(w.ToMatrix(model[w.Name]))).ToArray();
        QuantizedModel q = QuantizedModel.Create(model, quantized);
        string path = Path.Combine(_directory, "model.rwkvq");
        QuantizedModelFile.Save(q, path);

        CliAppTests.CliRun info = await CliAppTests.RunAsync("info", path);
        Assert.True(info.ExitCode == 0, info.Error);
        Assert.Contains("rwkvquant quantized model", info.Output, StringComparison.Ordinal);
        Assert.Contains($"{quantized.Length} tensors at {q.QuantizedBitsPerWeight.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)} bpw", info.Output, StringComparison.Ordinal);
        Assert.Matches(@"blocks\.11\.att\.key\.weight\s+\[64, 64\]\s+rtn a3 g64 f16, 3\.5000 bpw", info.Output);
        Assert.Matches(@"emb\.weight\s+\[256, 64\]\s+F16 \[256, 64\]", info.Output);

        string text = Fixtures.Path("text", "lambada_test.jsonl");
        CliAppTests.CliRun eval = await CliAppTests.RunAsync("eval", path, "--text", text, "--docs", "5000..5001");
        Assert.True(eval.ExitCode == 0, eval.Error);
    }
}
