namespace RwkvQuant.Kernels.Accelerators;

/// <summary>Which ILGPU accelerator a <see cref="KernelDevice"/> runs kernels on.</summary>
public enum KernelDeviceKind
{
    /// <summary>The first CUDA device when one is present, otherwise ILGPU's CPU accelerator.</summary>
    Auto,

    /// <summary>ILGPU's CPU accelerator (a correctness tool: it runs kernels on managed threads, not fast).</summary>
    Cpu,

    /// <summary>The first CUDA device; creating the device fails when there is none.</summary>
    Cuda,
}
