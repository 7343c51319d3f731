using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using RwkvQuant.Kernels.Accelerators;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>A group-scalar layout resident on an accelerator (codes as 32-bit words). Disposing frees the buffers.</summary>
internal sealed class DeviceGroupScalar : IDisposable
{
    private readonly MemoryBuffer1D<uint, Stride1D.Dense> _codes;
    private readonly MemoryBuffer1D<ushort, Stride1D.Dense> _parameters;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _permutation;

    public DeviceGroupScalar(Accelerator accelerator, PackedGroupScalar layout)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        ArgumentNullException.ThrowIfNull(layout);
        Layout = layout;
        _codes = HostCopy.Upload<uint>(accelerator, MemoryMarshal.Cast<byte, uint>(layout.Codes));
        _parameters = HostCopy.Upload<ushort>(accelerator, layout.GroupParameters);
        _permutation = HostCopy.Upload<int>(accelerator, layout.Permutation); // one unread element without a permutation
    }

    public PackedGroupScalar Layout { get; }

    public ArrayView<uint> Codes => _codes.View;

    public ArrayView<ushort> Parameters => _parameters.View;

    public ArrayView<int> Permutation => _permutation.View;

    public void Dispose()
    {
        _codes.Dispose();
        _parameters.Dispose();
        _permutation.Dispose();
    }
}

/// <summary>A vector-quantized layout resident on an accelerator. Absent codebook parts are one-element placeholders.</summary>
internal sealed class DeviceVectorCodes : IDisposable
{
    private readonly MemoryBuffer1D<uint, Stride1D.Dense> _codes;
    private readonly MemoryBuffer1D<byte, Stride1D.Dense> _int8;
    private readonly MemoryBuffer1D<ushort, Stride1D.Dense> _halves;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _floats;

    public DeviceVectorCodes(Accelerator accelerator, PackedVectorCodes layout)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        ArgumentNullException.ThrowIfNull(layout);
        Layout = layout;
        _codes = HostCopy.Upload<uint>(accelerator, MemoryMarshal.Cast<byte, uint>(layout.Codes));
        _int8 = HostCopy.Upload<byte>(accelerator, MemoryMarshal.AsBytes(layout.SignedValues.AsSpan()));
        _halves = HostCopy.Upload<ushort>(accelerator, layout.Halves);
        _floats = HostCopy.Upload<float>(accelerator, layout.Floats);
    }

    public PackedVectorCodes Layout { get; }

    public ArrayView<uint> Codes => _codes.View;

    public ArrayView<byte> Int8 => _int8.View;

    public ArrayView<ushort> Halves => _halves.View;

    public ArrayView<float> Floats => _floats.View;

    public void Dispose()
    {
        _codes.Dispose();
        _int8.Dispose();
        _halves.Dispose();
        _floats.Dispose();
    }
}

/// <summary>ggml blocks resident on an accelerator (the same bytes).</summary>
internal sealed class DeviceGgmlBlocks : IDisposable
{
    private readonly MemoryBuffer1D<byte, Stride1D.Dense> _blocks;

    public DeviceGgmlBlocks(Accelerator accelerator, PackedGgmlBlocks layout)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        ArgumentNullException.ThrowIfNull(layout);
        Layout = layout;
        _blocks = HostCopy.Upload<byte>(accelerator, layout.Blocks);
    }

    public PackedGgmlBlocks Layout { get; }

    public ArrayView<byte> Blocks => _blocks.View;

    public void Dispose() => _blocks.Dispose();
}
