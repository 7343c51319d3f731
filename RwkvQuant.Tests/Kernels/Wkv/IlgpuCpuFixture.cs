using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace RwkvQuant.Tests.Kernels.Wkv;

/// <summary>One ILGPU context with its CPU accelerator (the correctness backend), shared by a test class.</summary>
public sealed class IlgpuCpuFixture : IDisposable
{
    private readonly Context _context = Context.Create(b => b.CPU().EnableAlgorithms());

    public IlgpuCpuFixture() => Accelerator = _context.CreateCPUAccelerator(0);

    public Accelerator Accelerator { get; }

    public void Dispose()
    {
        Accelerator.Dispose();
        _context.Dispose();
    }
}
