using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace RwkvQuant.Kernels.Accelerators;

/// <summary>
/// An ILGPU context and the one accelerator chosen from it: CUDA when present (for <see cref="KernelDeviceKind.Auto"/>),
/// otherwise ILGPU's CPU accelerator; the caller can force either. Kernel launchers take its <see cref="Accelerator"/>.
/// Disposing it disposes the accelerator and the context.
/// </summary>
public sealed class KernelDevice : IDisposable
{
    private readonly Context _context;

    private KernelDevice(Context context, Accelerator accelerator, KernelDeviceKind kind)
    {
        _context = context;
        Accelerator = accelerator;
        Kind = kind;
    }

    /// <summary>The accelerator kernels run on.</summary>
    public Accelerator Accelerator { get; }

    /// <summary>What was chosen: <see cref="KernelDeviceKind.Cpu"/> or <see cref="KernelDeviceKind.Cuda"/>, never Auto.</summary>
    public KernelDeviceKind Kind { get; }

    /// <summary>The accelerator's name, e.g. <c>"NVIDIA H100"</c> or <c>"CPUAccelerator"</c>.</summary>
    public string Name => Accelerator.Name;

    /// <summary>True when a CUDA device can be used on this machine.</summary>
    public static bool IsCudaAvailable()
    {
        using var context = Context.Create(builder => builder.Cuda());
        return context.GetCudaDevices().Count > 0;
    }

    /// <summary>Creates the context and the accelerator of <paramref name="kind"/>.</summary>
    /// <exception cref="InvalidOperationException"><see cref="KernelDeviceKind.Cuda"/> was asked for and there is no CUDA device.</exception>
    public static KernelDevice Create(KernelDeviceKind kind = KernelDeviceKind.Auto)
    {
        if (!Enum.IsDefined(kind))
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown kernel device kind.");
        // Algorithms are enabled for the kernels that use ILGPU.Algorithms (XMath, reductions).
        var context = Context.Create(builder => builder.CPU().Cuda().EnableAlgorithms());
        try
        {
            if (kind != KernelDeviceKind.Cpu && context.GetCudaDevices().Count > 0)
                return new KernelDevice(context, context.GetCudaDevice(0).CreateAccelerator(context), KernelDeviceKind.Cuda);
            if (kind == KernelDeviceKind.Cuda)
                throw new InvalidOperationException("A CUDA accelerator was asked for, but ILGPU finds no CUDA device on this machine.");
            return new KernelDevice(context, context.CreateCPUAccelerator(0), KernelDeviceKind.Cpu);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Accelerator.Dispose();
        _context.Dispose();
    }
}
