using RwkvQuant.Kernels.Accelerators;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// Launches <see cref="PackedKernels"/> on one accelerator: the kernels are loaded once (on construction; use
/// <see cref="For"/> for the shared instance per accelerator), and every launch first checks the shapes of its views.
/// Device-resident weights (<see cref="DeviceGroupScalar"/> …) take views; the host overloads copy in and out.
/// Launches are synchronous.
/// </summary>
internal sealed class PackedKernelLauncher
{
    private static readonly ConditionalWeakTable<Accelerator, PackedKernelLauncher> Launchers = new();

    private readonly Accelerator _accelerator;
    private readonly Action<Index1D, GroupScalarShape, ArrayView<uint>, ArrayView<ushort>, ArrayView<int>, ArrayView<float>> _groupScalarDequantize;
    private readonly Action<Index1D, GroupScalarShape, ArrayView<uint>, ArrayView<ushort>, ArrayView<int>, ArrayView<float>, ArrayView<float>> _groupScalarMatVec;
    private readonly Action<Index1D, VectorCodesShape, ArrayView<uint>, ArrayView<byte>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>> _vectorDequantize;
    private readonly Action<Index1D, VectorCodesShape, ArrayView<uint>, ArrayView<byte>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>> _vectorMatVec;
    private readonly Action<Index1D, GgmlShape, ArrayView<byte>, ArrayView<float>> _ggmlDequantize;
    private readonly Action<Index1D, GgmlShape, ArrayView<byte>, ArrayView<float>, ArrayView<float>> _ggmlMatVec;

    public PackedKernelLauncher(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        _accelerator = accelerator;
        _groupScalarDequantize = accelerator.LoadAutoGroupedStreamKernel<Index1D, GroupScalarShape, ArrayView<uint>, ArrayView<ushort>, ArrayView<int>, ArrayView<float>>(PackedKernels.GroupScalarDequantize);
        _groupScalarMatVec = accelerator.LoadAutoGroupedStreamKernel<Index1D, GroupScalarShape, ArrayView<uint>, ArrayView<ushort>, ArrayView<int>, ArrayView<float>, ArrayView<float>>(PackedKernels.GroupScalarMatVec);
        _vectorDequantize = accelerator.LoadAutoGroupedStreamKernel<Index1D, VectorCodesShape, ArrayView<uint>, ArrayView<byte>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>>(PackedKernels.VectorCodesDequantize);
        _vectorMatVec = accelerator.LoadAutoGroupedStreamKernel<Index1D, VectorCodesShape, ArrayView<uint>, ArrayView<byte>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(PackedKernels.VectorCodesMatVec);
        _ggmlDequantize = accelerator.LoadAutoGroupedStreamKernel<Index1D, GgmlShape, ArrayView<byte>, ArrayView<float>>(PackedKernels.GgmlDequantize);
        _ggmlMatVec = accelerator.LoadAutoGroupedStreamKernel<Index1D, GgmlShape, ArrayView<byte>, ArrayView<float>, ArrayView<float>>(PackedKernels.GgmlMatVec);
    }

    /// <summary>The launcher of <paramref name="accelerator"/>, created (and its kernels loaded) on first use.</summary>
    public static PackedKernelLauncher For(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        return Launchers.GetValue(accelerator, a => new PackedKernelLauncher(a));
    }

    public Accelerator Accelerator => _accelerator;

    /// <summary>weights <c>[Rows, Columns]</c> = W dequantized.</summary>
    public void Dequantize(DeviceGroupScalar w, ArrayView<float> weights)
    {
        ArgumentNullException.ThrowIfNull(w);
        PackedGroupScalar l = w.Layout;
        CheckLength(weights, (long)l.Rows * l.Columns, "weights");
        _groupScalarDequantize((int)weights.Length, GroupScalarShape.Of(l, 1), w.Codes, w.Parameters, w.Permutation, weights);
        _accelerator.Synchronize();
    }

    /// <summary>y <c>[vectors, Rows]</c> = W·x for x <c>[vectors, Columns]</c>.</summary>
    public void MatVec(DeviceGroupScalar w, ArrayView<float> x, ArrayView<float> y, int vectors)
    {
        ArgumentNullException.ThrowIfNull(w);
        PackedGroupScalar l = w.Layout;
        CheckProduct(l.Rows, l.Columns, x, y, vectors);
        _groupScalarMatVec((int)y.Length, GroupScalarShape.Of(l, vectors), w.Codes, w.Parameters, w.Permutation, x, y);
        _accelerator.Synchronize();
    }

    public void Dequantize(DeviceVectorCodes w, ArrayView<float> weights)
    {
        ArgumentNullException.ThrowIfNull(w);
        PackedVectorCodes l = w.Layout;
        CheckLength(weights, (long)l.Rows * l.Columns, "weights");
        _vectorDequantize((int)weights.Length, VectorCodesShape.Of(l, 1), w.Codes, w.Int8, w.Halves, w.Floats, weights);
        _accelerator.Synchronize();
    }

    public void MatVec(DeviceVectorCodes w, ArrayView<float> x, ArrayView<float> y, int vectors)
    {
        ArgumentNullException.ThrowIfNull(w);
        PackedVectorCodes l = w.Layout;
        CheckProduct(l.Rows, l.Columns, x, y, vectors);
        _vectorMatVec((int)y.Length, VectorCodesShape.Of(l, vectors), w.Codes, w.Int8, w.Halves, w.Floats, x, y);
        _accelerator.Synchronize();
    }

    public void Dequantize(DeviceGgmlBlocks w, ArrayView<float> weights)
    {
        ArgumentNullException.ThrowIfNull(w);
        PackedGgmlBlocks l = w.Layout;
        CheckLength(weights, (long)l.Rows * l.Columns, "weights");
        _ggmlDequantize((int)weights.Length, GgmlShape.Of(l, 1), w.Blocks, weights);
        _accelerator.Synchronize();
    }

    public void MatVec(DeviceGgmlBlocks w, ArrayView<float> x, ArrayView<float> y, int vectors)
    {
        ArgumentNullException.ThrowIfNull(w);
        PackedGgmlBlocks l = w.Layout;
        CheckProduct(l.Rows, l.Columns, x, y, vectors);
        _ggmlMatVec((int)y.Length, GgmlShape.Of(l, vectors), w.Blocks, x, y);
        _accelerator.Synchronize();
    }

    /// <summary>Uploads, dequantizes and downloads (for tests and one-off use).</summary>
    public float[] Dequantize(PackedGroupScalar w)
    {
        using var device = new DeviceGroupScalar(_accelerator, w);
        return Run((long)w.Rows * w.Columns, view => Dequantize(device, view));
    }

    public float[] Dequantize(PackedVectorCodes w)
    {
        using var device = new DeviceVectorCodes(_accelerator, w);
        return Run((long)w.Rows * w.Columns, view => Dequantize(device, view));
    }

    public float[] Dequantize(PackedGgmlBlocks w)
    {
        using var device = new DeviceGgmlBlocks(_accelerator, w);
        return Run((long)w.Rows * w.Columns, view => Dequantize(device, view));
    }

    /// <summary>Uploads the weights and x, multiplies, downloads y.</summary>
    public void MatVec(PackedGroupScalar w, ReadOnlySpan<float> x, Span<float> y, int vectors)
    {
        using var device = new DeviceGroupScalar(_accelerator, w);
        Product(x, y, (xv, yv) => MatVec(device, xv, yv, vectors));
    }

    public void MatVec(PackedVectorCodes w, ReadOnlySpan<float> x, Span<float> y, int vectors)
    {
        using var device = new DeviceVectorCodes(_accelerator, w);
        Product(x, y, (xv, yv) => MatVec(device, xv, yv, vectors));
    }

    public void MatVec(PackedGgmlBlocks w, ReadOnlySpan<float> x, Span<float> y, int vectors)
    {
        using var device = new DeviceGgmlBlocks(_accelerator, w);
        Product(x, y, (xv, yv) => MatVec(device, xv, yv, vectors));
    }

    private float[] Run(long length, Action<ArrayView<float>> launch)
    {
        using var output = _accelerator.Allocate1D<float>(length);
        launch(output.View);
        return HostCopy.Download(output.View);
    }

    private void Product(ReadOnlySpan<float> x, Span<float> y, Action<ArrayView<float>, ArrayView<float>> launch)
    {
        using var xBuffer = HostCopy.Upload(_accelerator, x);
        using var yBuffer = _accelerator.Allocate1D<float>(y.Length);
        launch(xBuffer.View, yBuffer.View);
        HostCopy.ToHost(yBuffer.View, y);
    }

    private static void CheckLength(ArrayView<float> view, long expected, string name)
    {
        if (view.Length != expected)
            throw new ArgumentException($"{name} must hold {expected} values, got {view.Length}.", name);
    }

    private static void CheckProduct(int rows, int columns, ArrayView<float> x, ArrayView<float> y, int vectors)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vectors, 1);
        CheckLength(x, (long)vectors * columns, "x");
        CheckLength(y, (long)vectors * rows, "y");
        if ((long)vectors * rows > int.MaxValue)
            throw new ArgumentException($"{vectors} × {rows} outputs exceed one launch.", nameof(vectors));
    }
}
