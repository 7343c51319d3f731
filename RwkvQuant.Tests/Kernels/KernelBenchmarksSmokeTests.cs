using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using RwkvQuant.Benchmarks.Kernels;

namespace RwkvQuant.Tests.Kernels;

/// <summary>
/// A <c>Job.Dry</c> run of the kernel benchmark classes in process (one invocation of each benchmark, smallest
/// parameters only) so that they never rot: setup, every benchmark method and the custom GB/s column must run.
/// </summary>
public class KernelBenchmarksSmokeTests
{
    [Fact]
    public void Dequant_matvec_benchmarks_run()
    {
        Summary summary = RunDry(typeof(DequantMatVecBenchmarks), c => (string)c.Parameters["Shape"] == "1024x1024");
        Assert.Equal(5, summary.Reports.Length);
    }

    [Fact]
    public void Dequantize_benchmarks_run()
    {
        Summary summary = RunDry(typeof(PackedDequantizeBenchmarks), c => (string)c.Parameters["Scheme"] is "gs-3b-g64" or "q5_1");
        Assert.Equal(4, summary.Reports.Length);
    }

    private static Summary RunDry(Type type, Func<BenchmarkCase, bool> keep)
    {
        IConfig config = ManualConfig.CreateEmpty()
            .AddJob(Job.Dry.WithToolchain(InProcessEmitToolchain.DontLogOutput))
            .AddLogger(NullLogger.Instance)
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .WithOptions(ConfigOptions.DisableOptimizationsValidator | ConfigOptions.DisableLogFile)
            .WithArtifactsPath(Path.Combine(Path.GetTempPath(), "rwkvquant-bench-smoke"));
        BenchmarkRunInfo all = BenchmarkConverter.TypeToBenchmarks(type, config);
        var info = new BenchmarkRunInfo(all.BenchmarksCases.Where(keep).ToArray(), all.Type, all.Config);
        Summary summary = BenchmarkRunner.Run(info);
        Assert.False(summary.HasCriticalValidationErrors, string.Join("; ", summary.ValidationErrors.Select(e => e.Message)));
        foreach (BenchmarkReport report in summary.Reports)
            Assert.True(report.Success, $"{report.BenchmarkCase.DisplayInfo} failed.");
        string table = string.Join('\n', summary.Table.FullContent.Select(row => string.Join('|', row)));
        Assert.DoesNotContain("NA", summary.Table.Columns.Single(c => c.Header.Contains("GB/s", StringComparison.Ordinal)).Content);
        Assert.NotEmpty(table);
        return summary;
    }
}
