using System.Text.Json;
using RwkvQuant.Calibration;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Scalar.Ggml;
using RwkvQuant.Scalar.Gptq;
using RwkvQuant.Scalar.KQuants;

namespace RwkvQuant.Tests.Cli;

/// <summary><c>quantize --method/--preset/--keep/--tensor-type/--imatrix</c> and the <c>imatrix</c> command, through the real CLI.</summary>
public sealed class QuantizeMethodTests : IDisposable
{
    private static readonly string Model = Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin");
    private static readonly string Text = Fixtures.Path("text", "lambada_test.jsonl");
    private static readonly string[] SmallCalibration = ["--calib", Text, "--calib-docs", "0..15", "--samples", "4", "--sample-tokens", "64"];
    private static readonly string[] NoMeasurements = ["--bench-tokens", "0"];

    private readonly string _directory = Directory.CreateTempSubdirectory("rwkvquant-cli-method-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string OutputPath(string name = "out.rwkvq") => Path.Combine(_directory, name);

    [FixtureFact]
    public async Task A_ggml_format_needs_no_calibration_and_stores_every_block_matrix_as_ggml_does()
    {
        string output = OutputPath();
        CliAppTests.CliRun run = await CliAppTests.RunAsync(["quantize", Model, "--method", "q4_0", "-o", output, .. NoMeasurements]);
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("no calibration", run.Output, StringComparison.Ordinal);
        Assert.Contains("method: q4_0; selector: all SQ", run.Output, StringComparison.Ordinal);
        Assert.Matches(@"\] block 1/\d+: quantizing \(0/\d+ tensors done\)", run.Output); // plain progress lines, no calibration stage

        RwkvModel source = RwkvModelFile.Load(Model);
        QuantizedModel q = QuantizedModelFile.Load(output);
        var quantizer = new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q4_0));
        string[] matrices = [.. RwkvQuant.Pipeline.HybridQuantizer.BlockMatrices(source)];
        Assert.Equal(matrices.Order(StringComparer.Ordinal), q.QuantizedTensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        // Byte for byte what the quantizer makes of the [out, in] matrix (attention's key, a plain projection).
        var stored = (GgmlBlockTensor)q.QuantizedTensors.Single(t => t.Name == "blocks.1.att.key.weight");
        var expected = (GgmlBlockTensor)quantizer.Quantize(source["blocks.1.att.key.weight"]);
        Assert.Equal(expected.Blocks.ToArray(), stored.Blocks.ToArray());
    }

    [FixtureFact]
    public async Task Keep_and_tensor_type_override_the_method_for_the_matrices_they_match()
    {
        string output = OutputPath();
        CliAppTests.CliRun run = await CliAppTests.RunAsync(["quantize", Model, "--method", "q4_0", "--keep", "blocks.0.att.*",
            "--tensor-type", "blocks.*.ffn.value.weight=q8_0", "-o", output, .. NoMeasurements]);
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Matches(@"override blocks\.0\.att\.\*: \d+ matrices kept in F32", run.Output);
        Assert.Contains("override blocks.*.ffn.value.weight: 12 matrices in q8_0", run.Output, StringComparison.Ordinal);

        RwkvModel source = RwkvModelFile.Load(Model);
        QuantizedModel q = QuantizedModelFile.Load(output);
        TensorData kept = q.FullPrecisionTensors.Single(t => t.Name == "blocks.0.att.key.weight");
        Assert.Equal(TensorDataType.F32, kept.Type);
        Assert.Equal(source["blocks.0.att.key.weight"].ToFloatArray(), kept.ToFloatArray());
        var blockMatrices = RwkvQuant.Pipeline.HybridQuantizer.BlockMatrices(source).ToHashSet(StringComparer.Ordinal);
        Assert.DoesNotContain(q.QuantizedTensors, t => t.Name.StartsWith("blocks.0.att.", StringComparison.Ordinal) && blockMatrices.Contains(t.Name));
        Assert.All(q.QuantizedTensors.Where(t => t.Name.EndsWith("ffn.value.weight", StringComparison.Ordinal)),
            t => Assert.Equal(GgmlType.Q8_0, ((GgmlBlockTensor)t).Type));
        Assert.Equal(GgmlType.Q4_0, ((GgmlBlockTensor)q.QuantizedTensors.Single(t => t.Name == "blocks.1.att.key.weight")).Type);
    }

    [FixtureFact]
    public async Task Gptq_with_direct_settings_stores_those_settings()
    {
        string output = OutputPath();
        CliAppTests.CliRun run = await CliAppTests.RunAsync(["quantize", Model, "--method", "gptq", "--bits", "4", "--group-size", "32", "--sym",
            "-o", output, .. SmallCalibration, .. NoMeasurements]);
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("every block matrix SQ gptq s4 g32", run.Output, StringComparison.Ordinal);
        QuantizedModel q = QuantizedModelFile.Load(output);
        Assert.All(q.QuantizedTensors, t => Assert.StartsWith("gptq s4 g32", t.Scheme, StringComparison.Ordinal));
        Assert.DoesNotContain(q.QuantizedTensors, t => t is MultiplicationVectorTensor); // codebooks are the hybrid's
    }

    [FixtureFact]
    public async Task Gptvq_with_its_codebooks_spelled_out_stores_them()
    {
        string output = OutputPath();
        CliAppTests.CliRun run = await CliAppTests.RunAsync(["quantize", Model, "--method", "gptvq-d2-b6-g4x64", "-o", output, .. SmallCalibration, .. NoMeasurements]);
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("method: gptvq-d2-b6-g4x64; selector: all VQ", run.Output, StringComparison.Ordinal);
        Assert.All(QuantizedModelFile.Load(output).QuantizedTensors, t => Assert.StartsWith("gptvq d2 b6 g4x64", t.Scheme, StringComparison.Ordinal));
    }

    [FixtureFact]
    public async Task A_stored_importance_matrix_gives_the_same_file_as_collecting_it_during_quantize()
    {
        string imatrix = Path.Combine(_directory, "model.imatrix");
        CliAppTests.CliRun collect = await CliAppTests.RunAsync(["imatrix", Model, "-o", imatrix, .. SmallCalibration]);
        Assert.True(collect.ExitCode == 0, collect.Error);
        Assert.Contains("matrices", collect.Output, StringComparison.Ordinal);

        string fromFile = OutputPath("file.rwkvq"), inRun = OutputPath("run.rwkvq");
        CliAppTests.CliRun a = await CliAppTests.RunAsync(["quantize", Model, "--method", "q3_k-imat", "--imatrix", imatrix, "-o", fromFile, .. NoMeasurements]);
        Assert.True(a.ExitCode == 0, a.Error);
        Assert.Contains($"importance matrix {imatrix}", a.Output, StringComparison.Ordinal);
        CliAppTests.CliRun b = await CliAppTests.RunAsync(["quantize", Model, "--method", "q3_k-imat", "-o", inRun, .. SmallCalibration, .. NoMeasurements]);
        Assert.True(b.ExitCode == 0, b.Error);
        Assert.Equal(File.ReadAllBytes(inRun), File.ReadAllBytes(fromFile));
        // ... and the importances did change the rounding: plain q3_k differs.
        string plain = OutputPath("plain.rwkvq");
        Assert.Equal(0, (await CliAppTests.RunAsync(["quantize", Model, "--method", "q3_k", "-o", plain, .. NoMeasurements])).ExitCode);
        Assert.NotEqual(File.ReadAllBytes(plain), File.ReadAllBytes(fromFile));
    }

    [FixtureFact]
    public async Task Imatrix_json_reports_the_file_and_the_tokens()
    {
        string imatrix = Path.Combine(_directory, "model.imatrix");
        CliAppTests.CliRun run = await CliAppTests.RunAsync(["imatrix", Model, "-o", imatrix, "--json", .. SmallCalibration]);
        Assert.True(run.ExitCode == 0, run.Error);
        using JsonDocument json = JsonDocument.Parse(run.Output);
        Assert.Equal(imatrix, json.RootElement.GetProperty("output").GetString());
        Assert.Equal(4 * 64, json.RootElement.GetProperty("tokens").GetInt64());
        Assert.Matches(@"\[\d\d:\d\d:\d\d\] importance matrix: 100% of \d+ sample-blocks", run.Error); // plain progress off a terminal, on stderr with --json
        Assert.Equal(ImportanceMatrix.Load(imatrix).Columns.Count, json.RootElement.GetProperty("matrices").GetInt32());
    }

    [FixtureFact]
    public async Task An_importance_matrix_of_another_model_is_refused_naming_file_and_tensor_and_nothing_is_written()
    {
        string imatrix = Path.Combine(_directory, "v6.imatrix");
        Assert.Equal(0, (await CliAppTests.RunAsync(["imatrix", Fixtures.Path("rwkvcpp", "tiny-rwkv-6v0-1m-FP32.bin"), "-o", imatrix, .. SmallCalibration])).ExitCode);
        string output = OutputPath();
        CliAppTests.CliRun run = await CliAppTests.RunAsync(["quantize", Model, "--method", "q3_k-imat", "--imatrix", imatrix, "-o", output, .. NoMeasurements]);
        Assert.Equal(1, run.ExitCode);
        Assert.Matches(@"^rwkvquant: error: .*v6\.imatrix: tensor 'blocks\.0\.[a-z._0-9]+': .*another model", run.Error);
        Assert.False(File.Exists(output));
    }

    [FixtureTheory]
    [InlineData(new[] { "--method", "q4_0", "--calib", "TEXT" }, "--calib is not used: q4_0 quantizes from the weights alone")]
    [InlineData(new[] { "--method", "gptq" }, "--calib is required: gptq calibrates")]
    [InlineData(new[] { "--method", "q3_k-imat" }, "give --calib (it is collected in one pass) or --imatrix")]
    [InlineData(new[] { "--method", "q4_0", "--bits", "4" }, "--bits: q4_0 is a fixed format")]
    [InlineData(new[] { "--method", "gptq", "--bits", "9", "--calib", "TEXT" }, "--bits is 9: Codes have 2 to 8 bits.")]
    [InlineData(new[] { "--method", "rtn", "--act-order" }, "--act-order does not apply to RTN.")]
    [InlineData(new[] { "--method", "q5" }, "--method: unknown method 'q5'; choose from hybrid, gptq")]
    [InlineData(new[] { "--method", "q4_0", "--bpw", "3.5" }, "--bpw: the hybrid method's options")]
    [InlineData(new[] { "--bpw", "3.5", "--bits", "4", "--calib", "TEXT" }, "--bpw picks the code width and group sizes; give no --bits with it.")]
    [InlineData(new[] { "--preset", "q3_k_m", "--method", "gptq" }, "--preset q3_k_m sets the method and its settings; leave out --method")]
    [InlineData(new[] { "--preset", "q9" }, "Unknown preset 'q9'; choose from rq3, rq3-paper")]
    [InlineData(new[] { "--method", "q4_0", "--keep", "emb.*" }, "--keep 'emb.*' matches no block matrix, only emb.weight")]
    [InlineData(new[] { "--method", "q4_0", "--keep", "encoder.*" }, "--keep 'encoder.*' matches no tensor of the model; block matrices are named like blocks.0.")]
    [InlineData(new[] { "--method", "q4_0", "--tensor-type", "blocks.*" }, "--tensor-type 'blocks.*': write PATTERN=METHOD")]
    [InlineData(new[] { "--method", "q4_0", "--tensor-type", "blocks.*=hybrid" }, "a matrix takes one method")]
    [InlineData(new[] { "--method", "q4_0", "--tensor-type", "blocks.*=q7_0" }, "--tensor-type 'blocks.*=q7_0': Unknown method 'q7_0'")]
    [InlineData(new[] { "--method", "q4_0", "--imatrix", "MISSING" }, "does not exist; make one with `rwkvquant imatrix`")]
    [InlineData(new[] { "--method", "q4_0", "--embedding-type", "gptq" }, "--embedding-type gptq: it is quantized from its weights alone")]
    [InlineData(new[] { "--method", "gptvq-d3-b6-g4x64", "--calib", "TEXT" }, "'gptvq-d3-b6-g4x64': The vector dimension is 1, 2 or 4.")]
    [InlineData(new[] { "--method", "gptvq-d2-b6-g4x64", "--bits", "4", "--calib", "TEXT" }, "--bits: gptvq-d2-b6-g4x64 names its settings")]
    [InlineData(new[] { "--method", "q4_0", "--head-type", "q3_k-imat" }, "--head-type q3_k-imat: it is quantized from its weights alone")]
    [InlineData(new[] { "--method", "q4_0", "--embedding-type", "bf16", "--head-type", "f32" }, "a kept embedding and head share one type")]
    public async Task Inconsistent_settings_are_one_error_line_and_write_nothing(string[] arguments, string message)
    {
        string output = OutputPath();
        string[] args = [.. arguments.Select(a => a switch { "TEXT" => Text, "MISSING" => Path.Combine(_directory, "missing.imatrix"), _ => a })];
        CliAppTests.CliRun run = await CliAppTests.RunAsync(["quantize", Model, .. args, "-o", output, .. NoMeasurements]);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains(message, run.Error, StringComparison.Ordinal);
        Assert.Single(run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("rwkvquant: error:", StringComparison.Ordinal));
        Assert.False(File.Exists(output));
        Assert.Empty(Directory.GetFiles(_directory));
    }

    [FixtureFact]
    public async Task An_imatrix_for_a_method_that_reads_none_is_refused()
    {
        string imatrix = Path.Combine(_directory, "model.imatrix");
        Assert.Equal(0, (await CliAppTests.RunAsync(["imatrix", Model, "-o", imatrix, .. SmallCalibration])).ExitCode);
        CliAppTests.CliRun run = await CliAppTests.RunAsync(["quantize", Model, "--method", "q4_k", "--imatrix", imatrix, "-o", OutputPath(), .. NoMeasurements]);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("q4_k quantizes from the weights alone and reads no importance matrix; use a -imat method (e.g. q4_k-imat", run.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(OutputPath()));
    }

    [FixtureFact]
    public async Task A_preset_sets_the_method_and_its_tensor_types()
    {
        string output = OutputPath();
        CliAppTests.CliRun run = await CliAppTests.RunAsync(["quantize", Model, "--preset", "q3_k_m", "--json", "-o", output, .. SmallCalibration, .. NoMeasurements]);
        Assert.True(run.ExitCode == 0, run.Error);
        using JsonDocument json = JsonDocument.Parse(run.Output);
        Assert.Equal("q3_k-imat", json.RootElement.GetProperty("method").GetString());
        Assert.Equal("q3_k_m", json.RootElement.GetProperty("preset").GetString());
        Assert.StartsWith("collected from the calibration", json.RootElement.GetProperty("importanceMatrix").GetString(), StringComparison.Ordinal);
        // The fixture's rows are 64 wide, so Q3_K and Q4_K both take llama.cpp's fallbacks (IQ4_NL and Q5_0): the overridden matrices differ in format.
        QuantizedModel q = QuantizedModelFile.Load(output);
        Assert.All(q.QuantizedTensors.Where(t => t.Name.EndsWith("att.output.weight", StringComparison.Ordinal)), t => Assert.Equal(GgmlType.Q5_0, ((GgmlBlockTensor)t).Type));
        Assert.Equal(KQuantType.IQ4_NL, ((KQuantTensor)q.QuantizedTensors.Single(t => t.Name == "blocks.0.att.key.weight")).Type);
    }

    [FixtureFact]
    public async Task A_budget_allocation_preset_plans_after_calibrating_and_keeps_its_rules()
    {
        // The allocation's plan needs the calibration's Hessians: the pipeline is built after it, the --keep rule checked before.
        string output = OutputPath();
        CliAppTests.CliRun run = await CliAppTests.RunAsync(["quantize", Model, "--preset", "rq3.25", "--keep", "blocks.0.att.key.weight", "-o", output,
            .. SmallCalibration, .. NoMeasurements]);
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("plan: budget allocation", run.Output, StringComparison.Ordinal);
        Assert.Contains("override blocks.0.att.key.weight: 1 matrices kept in F32", run.Output, StringComparison.Ordinal);
        QuantizedModel q = QuantizedModelFile.Load(output);
        Assert.Contains(q.FullPrecisionTensors, t => t.Name == "blocks.0.att.key.weight");
        Assert.InRange(q.QuantizedTensors.Where(t => t is not MultiplicationVectorTensor).Sum(t => t.StoredBits)
            / (double)q.QuantizedTensors.Where(t => t is not MultiplicationVectorTensor).Sum(t => t.ElementCount), 2.0, 3.5);
    }

    [Fact]
    public void Presets_name_only_methods_and_tensor_types_that_parse()
    {
        foreach (RwkvQuant.Cli.Commands.QuantizePreset preset in RwkvQuant.Cli.Commands.QuantizePreset.All)
        {
            Assert.Contains(preset.Method, RwkvQuant.Cli.Commands.QuantizeMethod.Names);
            foreach (string rule in preset.TensorTypes ?? [])
                Assert.NotNull(RwkvQuant.Cli.Commands.TensorTypeRule.Parse(rule, preset.Settings ?? RwkvQuant.Cli.Commands.QuantizerSettings.None).Scalar);
        }
        Assert.Equal(typeof(GptqQuantizer), RwkvQuant.Cli.Commands.QuantizeMethod.ForMatrix("gptq", RwkvQuant.Cli.Commands.QuantizerSettings.None).Scalar!.GetType());
        Assert.Equal(typeof(KQuantizer), RwkvQuant.Cli.Commands.QuantizeMethod.ForMatrix("IQ3_S-imat", RwkvQuant.Cli.Commands.QuantizerSettings.None).Scalar!.GetType());
    }

    [FixtureFact]
    public async Task Embedding_and_head_types_are_stored_and_the_file_generates_on_the_engine()
    {
        string output = OutputPath();
        CliAppTests.CliRun run = await CliAppTests.RunAsync(["quantize", Model, "--method", "q4_0", "--embedding-type", "q8_0", "--head-type", "q4_k",
            "-o", output, .. NoMeasurements]);
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("override emb.weight: ggml q8_0", run.Output, StringComparison.Ordinal);
        Assert.Matches(@"head\.weight\s.*emb/head.*SQ", run.Output);
        QuantizedModel q = QuantizedModelFile.Load(output);
        Assert.Equal(GgmlType.Q8_0, ((GgmlBlockTensor)q.QuantizedTensors.Single(t => t.Name == "emb.weight")).Type);
        Assert.Contains(q.QuantizedTensors, t => t.Name == "head.weight");
        Assert.Matches(@"SQ: (\d+)/\1 matrices", run.Output); // the embedding and head are not counted as block matrices

        CliAppTests.CliRun generate = await CliAppTests.RunAsync("generate", output, "--prompt", "The", "--tokens", "8", "--temperature", "0", "--json");
        Assert.True(generate.ExitCode == 0, generate.Error);
        using JsonDocument json = JsonDocument.Parse(generate.Output);
        Assert.Equal("quantized engine", json.RootElement.GetProperty("runner").GetString());
        Assert.Equal(8, json.RootElement.GetProperty("tokens").GetArrayLength());
    }

    [Fact]
    public async Task A_world_vocabulary_model_needs_its_vocab_only_where_text_is_read_and_says_so_before_the_work()
    {
        // One real-width RWKV-7 0.1B block with its 65,536-token embedding and head: the World tokenizer's vocabulary.
        string model = Path.Combine(_directory, "r7.safetensors");
        SyntheticModels.Write(SyntheticModels.Find("rwkv7-0.1b") with { LayerCount = 1 }, model, TensorDataType.F16, seed: 1, progress: null, CancellationToken.None);

        string output = OutputPath();
        CliAppTests.CliRun timed = await CliAppTests.RunAsync("quantize", model, "--method", "q4_0", "-o", output, "--bench-tokens", "8");
        Assert.Equal(1, timed.ExitCode);
        Assert.Contains("--encoding world needs the vocabulary file", timed.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(output)); // refused before quantizing

        CliAppTests.CliRun weightsOnly = await CliAppTests.RunAsync("quantize", model, "--method", "q4_0", "-o", output, "--bench-tokens", "0");
        Assert.True(weightsOnly.ExitCode == 0, weightsOnly.Error);
        Assert.Equal(RwkvQuant.Pipeline.HybridQuantizer.BlockMatrices(RwkvModelFile.Load(model)).Count, QuantizedModelFile.Load(output).QuantizedTensors.Count);
    }
}
