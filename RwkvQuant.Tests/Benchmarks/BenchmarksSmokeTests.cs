using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using RwkvQuant.Benchmarks.Inference;
using RwkvQuant.Benchmarks.Kernels;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.Benchmarks.Kernels.KMeans;
using RwkvQuant.Benchmarks.Kernels.Wkv;
using RwkvQuant.Benchmarks.Models;
using RwkvQuant.Benchmarks.Scalar;
using RwkvQuant.Benchmarks.Vector;

namespace RwkvQuant.Tests.Benchmarks;

/// <summary>
/// A <c>Job.Dry</c> run, in process, of every benchmark class (one invocation of each benchmark method, the smallest
/// parameters only) so that none of them rots: its setup, every method and its custom columns must run.
/// </summary>
public class BenchmarksSmokeTests
{
    [Fact]
    public void Dequant_matvec_benchmarks_run()
    {
        Summary summary = RunDry(typeof(DequantMatVecBenchmarks), c => (string)c.Parameters["Shape"] == "1024x1024");
        Assert.Equal(15, summary.Reports.Length);
        AssertColumnFilled(summary, "GB/s");
    }

    [Fact]
    public void Dequantize_benchmarks_run()
    {
        Summary summary = RunDry(typeof(PackedDequantizeBenchmarks), c => (string)c.Parameters["Scheme"] is "gs-3b-g64" or "q5_1");
        Assert.Equal(4, summary.Reports.Length);
        AssertColumnFilled(summary, "GB/s");
    }

    [Fact]
    public void Matrix_vector_product_benchmarks_run()
    {
        Summary summary = RunDry(typeof(MatrixVectorProductBenchmarks), c => (string)c.Parameters["Shape"] == "64x64");
        Assert.Equal(4, summary.Reports.Length);
        Assert.Equal(3, RunDry(typeof(GgmlMatVecBenchmarks), c => Equals(c.Parameters["Type"], GgmlBlockType.Q5_1)).Reports.Length);
        Assert.Equal(3, RunDry(typeof(KQuantMatVecBenchmarks), c => Equals(c.Parameters["Type"], KQuantType.Q3_K)).Reports.Length);
    }

    [Fact]
    public void Centroid_search_and_wkv_benchmarks_run()
    {
        Summary search = RunDry(typeof(CentroidSearchBenchmarks), c => (int)c.Parameters["Dimension"] == 2 && (int)c.Parameters["Centroids"] == 8);
        Assert.Equal(3, search.Reports.Length);
        Summary wkv = RunDry(typeof(WkvBenchmarks), c => (int)c.Parameters["Steps"] == 1);
        Assert.Equal(4, wkv.Reports.Length);
    }

    [Fact]
    public void Quantizer_benchmarks_run()
    {
        Assert.Equal(2, RunDry(typeof(GptqBenchmarks), c => (int)c.Parameters[c.Parameters.Items[0].Name] == 1024).Reports.Length);
        Assert.Equal(2, RunDry(typeof(GptvqBenchmarks), c => (int)c.Parameters[c.Parameters.Items[0].Name] == 1024).Reports.Length);
        Assert.Equal(3, RunDry(typeof(KMeansBenchmarks), c => (int)c.Parameters["Dimension"] == 1 && (int)c.Parameters["Centroids"] == 8).Reports.Length);
    }

    [FixtureFact]
    public void Decoding_and_forward_pass_benchmarks_run_on_a_fixture()
    {
        const string model = "tiny-rwkv-7v0-834K-FP32.bin";
        Summary decoding = RunDry(typeof(DecodingBenchmarks), c => (string)c.Parameters["Model"] == model && (int)c.Parameters["Threads"] == 1);
        Assert.Equal(3, decoding.Reports.Length);
        AssertColumnFilled(decoding, "Tokens/s");
        Summary prefill = RunDry(typeof(PrefillBenchmarks), c => (string)c.Parameters["Model"] == model && (int)c.Parameters["Threads"] == 0);
        Assert.Equal(4, prefill.Reports.Length);
        AssertColumnFilled(prefill, "Tokens/s");
        Assert.Equal(2, RunDry(typeof(ForwardPassBenchmarks), c => c.Parameters.Items.Any(p => Equals(p.Value, model))).Reports.Length);
    }

    private static void AssertColumnFilled(Summary summary, string header) =>
        Assert.DoesNotContain("NA", summary.Table.Columns.Single(c => c.Header.Contains(header, StringComparison.Ordinal)).Content);

    private static Summary RunDry(Type type, Func<BenchmarkCase, bool> keep)
    {
        IConfig config = ManualConfig.CreateEmpty()
            .AddJob(Job.Dry.WithToolchain(InProcessEmitToolchain.DontLogOutput))
            .AddLogger(NullLogger.Instance)
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .WithOptions(ConfigOptions.DisableOptimizationsValidator | ConfigOptions.DisableLogFile)
            .WithArtifactsPath(Path.Combine(Path.GetTempPath(), "rwkvquant-bench-smoke"));
        BenchmarkRunInfo all = BenchmarkConverter.TypeToBenchmarks(type, config);
        BenchmarkCase[] kept = all.BenchmarksCases.Where(keep).ToArray();
        Assert.NotEmpty(kept);
        Summary summary = BenchmarkRunner.Run(new BenchmarkRunInfo(kept, all.Type, all.Config));
        Assert.False(summary.HasCriticalValidationErrors, string.Join("; ", summary.ValidationErrors.Select(e => e.Message)));
        foreach (BenchmarkReport report in summary.Reports)
            Assert.True(report.Success, $"{report.BenchmarkCase.DisplayInfo} failed.");
        Assert.NotEmpty(summary.Table.FullContent);
        return summary;
    }
}
