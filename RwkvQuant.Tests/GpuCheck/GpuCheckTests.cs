using RwkvQuant.GpuCheck;
using RwkvQuant.Kernels.Accelerators;

namespace RwkvQuant.Tests.GpuCheck;

/// <summary>The CUDA proof app's checks in its CPU-accelerator mode: every kernel against its reference (CI has no GPU).</summary>
public class GpuCheckTests
{
    [Fact]
    public void Every_kernel_matches_its_reference_on_the_cpu_accelerator()
    {
        using KernelDevice device = KernelDevice.Create(KernelDeviceKind.Cpu);
        var lines = new List<string>();
        IReadOnlyList<GpuCheckResult> results = RwkvQuant.GpuCheck.GpuCheck.Run(device, GpuCheckOptions.Small, lines.Add);
        Assert.Equal(4, results.Count);
        Assert.Equal(4, lines.Count);
        Assert.All(results, r =>
        {
            Assert.True(r.Passed, $"{r.Name}: {r.MaxError}");
            Assert.InRange(r.MaxError, 0, RwkvQuant.GpuCheck.GpuCheck.Tolerance);
            Assert.True(r.Milliseconds > 0 && double.IsFinite(r.GigabytesPerSecond), r.Name);
        });
        Assert.Contains(results, r => r.Name.StartsWith("WKV-7", StringComparison.Ordinal));
    }

    [Fact]
    public void A_result_past_the_tolerance_is_reported_as_a_failure()
    {
        var failed = new GpuCheckResult("x", 1e-2, false, 1, 1);
        Assert.StartsWith("FAIL", RwkvQuant.GpuCheck.GpuCheck.Describe(failed), StringComparison.Ordinal);
    }
}
