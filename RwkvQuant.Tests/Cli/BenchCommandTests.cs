using System.Diagnostics;
using System.Reflection;
using RwkvQuant.Cli.Commands;
using RwkvQuant.Inference;
using RwkvQuant.Kernels.Accelerators;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar.Rtn;

namespace RwkvQuant.Tests.Cli;

[Collection(TorchThreadCount.Name)] // bench --threads sets the process-wide thread counts for its run
public sealed class BenchCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("rwkvquant-cli-bench-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static string Source => Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin");

    private string QuantizedFile()
    {
        RwkvModel model = RwkvModelFile.Load(Source);
        var rtn = new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = 3, GroupSize = 64 });
        QuantizedTensor[] quantized = LinearWeights.Of(model).Where(w => w.Block >= 0)
            .Select(w => rtn.Quantize(w.ToMatrix(model[w.Name]))).ToArray();
        string path = Path.Combine(_directory, "model.rwkvq");
        QuantizedModelFile.Save(QuantizedModel.Create(model, quantized), path);
        return path;
    }

    [FixtureFact]
    public async Task Bench_json_reports_repeated_runs_with_their_spread_and_the_product_paths()
    {
        CliAppTests.CliRun run = await CliAppTests.RunAsync("bench", QuantizedFile(), "--tokens", "4", "--warmup", "1", "--repeat", "3", "--prefill", "8", "--json");
        Assert.True(run.ExitCode == 0, run.Error);
        using var json = System.Text.Json.JsonDocument.Parse(run.Output);        // stdout is the JSON object alone
        System.Text.Json.JsonElement root = json.RootElement;
        Assert.Equal(3, root.GetProperty("repeats").GetInt32());
        Assert.Equal(EngineKernels.DescribePaths(), root.GetProperty("products").GetString());
        System.Text.Json.JsonElement[] rows = [.. root.GetProperty("rows").EnumerateArray()];
        Assert.Equal(["quantized (.rwkvq)", "float32 (dequantized)"], rows.Select(r => r.GetProperty("run").GetString()));
        foreach (System.Text.Json.JsonElement row in rows)
        {
            double rate = row.GetProperty("tokensPerSecond").GetDouble();
            Assert.True(rate > 0 && double.IsFinite(rate));
            Assert.True(row.GetProperty("tokensPerSecondStdDev").GetDouble() >= 0);
            Assert.Equal(1000 / rate, row.GetProperty("msPerToken").GetDouble(), 1e-6 * 1000 / rate);
            Assert.True(row.GetProperty("promptTokensPerSecond").GetDouble() > 0);
        }
    }

    [Fact]
    public async Task Bench_refuses_fewer_than_one_repeat()
    {
        CliAppTests.CliRun run = await CliAppTests.RunAsync("bench", "--repeat", "0");
        Assert.Equal(1, run.ExitCode);
        Assert.Equal("rwkvquant: error: --repeat must be at least 1 (got 0).", run.Error.Trim());
    }

    [FixtureFact]
    public async Task Bench_times_the_quantized_model_and_its_source_in_one_run()
    {
        CliAppTests.CliRun run = await CliAppTests.RunAsync("bench", QuantizedFile(), "--source", Source, "--tokens", "4", "--warmup", "1", "--torch");
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("quantized (.rwkvq)", run.Output, StringComparison.Ordinal);
        Assert.Contains("float32 source", run.Output, StringComparison.Ordinal);
        Assert.Contains("float32 TorchSharp network", run.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("not representative", run.Output, StringComparison.Ordinal); // Core and Kernels are optimised in every configuration
        Assert.Matches(@"quantized \(\.rwkvq\) vs float32 source: \d+\.\d\d× fewer weight bytes per token, \d+\.\d\d× the tokens per second", run.Output);
    }

    [FixtureFact]
    public async Task Bench_without_a_source_compares_with_the_dequantized_model_and_runs_plain_models_alone()
    {
        CliAppTests.CliRun quantized = await CliAppTests.RunAsync("bench", QuantizedFile(), "--tokens", "2");
        Assert.True(quantized.ExitCode == 0, quantized.Error);
        Assert.Contains("float32 (dequantized)", quantized.Output, StringComparison.Ordinal);

        CliAppTests.CliRun plain = await CliAppTests.RunAsync("bench", Source, "--tokens", "2");
        Assert.True(plain.ExitCode == 0, plain.Error);
        Assert.DoesNotContain("fewer weight bytes", plain.Output, StringComparison.Ordinal);

        CliAppTests.CliRun v5 = await CliAppTests.RunAsync("bench", Fixtures.Path("rwkvcpp", "tiny-rwkv-5v2-730K-FP32.bin"));
        Assert.Equal(1, v5.ExitCode);
        Assert.Contains("runs RWKV v6 and v7", v5.Error, StringComparison.Ordinal);
    }

    [FixtureFact]
    public async Task Bench_threads_limits_the_products_names_their_path_and_refuses_zero()
    {
        CliAppTests.CliRun one = await CliAppTests.RunAsync("bench", QuantizedFile(), "--tokens", "2", "--warmup", "0", "--threads", "1");
        Assert.True(one.ExitCode == 0, one.Error);
        Assert.Contains($"threads per product: 1 of {Environment.ProcessorCount} processors", one.Output, StringComparison.Ordinal);
        Assert.Contains("group-scalar: ", one.Output, StringComparison.Ordinal);
        Assert.Equal(Environment.ProcessorCount, EngineKernels.Threads); // the process-wide setting is put back

        CliAppTests.CliRun zero = await CliAppTests.RunAsync("bench", Source, "--threads", "0");
        Assert.Equal(1, zero.ExitCode);
        Assert.Contains("--threads must be at least 1", zero.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Kernels_and_core_are_optimised_in_every_configuration_so_no_speed_warning_is_due()
    {
        // Kernels sets Optimize in every configuration: a Debug `dotnet run -- quantize` timed unoptimised SIMD kernels
        // (77 tokens/s quantized against 2,700 in Release) before it did. Core too, since the GC-stress test passes
        // with it optimised (see its project), so the tests run the code users get.
        Assert.False(typeof(KernelDevice).Assembly.GetCustomAttribute<DebuggableAttribute>()?.IsJITOptimizerDisabled ?? false, "RwkvQuant.Kernels is not optimised");
        Assert.False(typeof(RwkvQuant.Models.RwkvModel).Assembly.GetCustomAttribute<DebuggableAttribute>()?.IsJITOptimizerDisabled ?? false, "RwkvQuant.Core is not optimised");
        Assert.Null(BenchCommand.UnoptimisedKernelsWarning());
    }

    [Fact]
    public void The_speed_warning_names_an_unoptimised_assembly()
    {
        Assembly tests = typeof(BenchCommandTests).Assembly; // this project keeps the configuration's default
        string? warning = BenchCommand.UnoptimisedKernelsWarning(tests, typeof(KernelDevice).Assembly);
#if DEBUG
        Assert.Equal("warning: RwkvQuant.Tests was compiled without optimisation; these speeds are not representative (build with -c Release or Optimize=true)", warning);
#else
        Assert.Null(warning);
#endif
    }

    [FixtureFact]
    public async Task Generate_runs_a_quantized_model_on_the_engine_and_reports_bytes_per_token()
    {
        CliAppTests.CliRun run = await CliAppTests.RunAsync("generate", QuantizedFile(), "--prompt", "Hello", "--tokens", "5", "--temperature", "0");
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.StartsWith("Hello", run.Output, StringComparison.Ordinal);
        Assert.Matches(@"5 generated tokens, \d+\.\d tokens/s after the first; quantized engine, \d+\.\d{3} MiB of weights read per token", run.Error);
    }
}
