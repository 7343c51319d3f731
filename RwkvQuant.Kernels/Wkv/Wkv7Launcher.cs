using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using RwkvQuant.Kernels.Accelerators;

namespace RwkvQuant.Kernels.Wkv;

/// <summary>
/// Runs <see cref="WkvKernels.Wkv7"/> on one accelerator: the kernel is loaded once per accelerator (at construction;
/// <see cref="For"/> keeps one launcher per accelerator) and every launch checks the views' lengths against the shape first.
/// </summary>
internal sealed class Wkv7Launcher
{
    private static readonly ConditionalWeakTable<Accelerator, Wkv7Launcher> Cache = [];

    private readonly Accelerator _accelerator;
    private readonly Action<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> _kernel;

    /// <summary>Loads the kernel on <paramref name="accelerator"/>.</summary>
    public Wkv7Launcher(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        _accelerator = accelerator;
        _kernel = accelerator.LoadAutoGroupedStreamKernel<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(WkvKernels.Wkv7);
    }

    /// <summary>The launcher of <paramref name="accelerator"/>, created on first use and kept while the accelerator lives.</summary>
    public static Wkv7Launcher For(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        return Cache.GetValue(accelerator, a => new Wkv7Launcher(a));
    }

    /// <summary>Launches on device views (asynchronously, on the default stream); layouts as <see cref="Wkv7Reference.Run"/>.</summary>
    public void Launch(WkvShape shape, ArrayView<float> r, ArrayView<float> w, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> z, ArrayView<float> b, ArrayView<float> state, ArrayView<float> y)
    {
        shape.CheckCommon(r.Length, w.Length, k.Length, v.Length, state.Length, y.Length);
        WkvShape.Check(z.Length, shape.TokenLength, nameof(z), "[T, H, N]");
        WkvShape.Check(b.Length, shape.TokenLength, nameof(b), "[T, H, N]");
        _kernel(new Index2D(shape.Heads, shape.HeadSize), r, w, k, v, z, b, state, y, shape.Steps, shape.Heads, shape.HeadSize);
    }

    /// <summary>Copies host data in, runs, waits and copies the output and the new state back (tests, one-off calls).</summary>
    public void Run(WkvShape shape, ReadOnlySpan<float> r, ReadOnlySpan<float> w, ReadOnlySpan<float> k,
        ReadOnlySpan<float> v, ReadOnlySpan<float> z, ReadOnlySpan<float> b, Span<float> state, Span<float> y)
    {
        shape.CheckCommon(r.Length, w.Length, k.Length, v.Length, state.Length, y.Length);
        WkvShape.Check(z.Length, shape.TokenLength, nameof(z), "[T, H, N]");
        WkvShape.Check(b.Length, shape.TokenLength, nameof(b), "[T, H, N]");
        using MemoryBuffer1D<float, Stride1D.Dense> dr = Upload(r), dw = Upload(w), dk = Upload(k), dv = Upload(v);
        using MemoryBuffer1D<float, Stride1D.Dense> dz = Upload(z), db = Upload(b);
        using MemoryBuffer1D<float, Stride1D.Dense> ds = Upload(state), dy = _accelerator.Allocate1D<float>(y.Length);
        Launch(shape, dr.View, dw.View, dk.View, dv.View, dz.View, db.View, ds.View, dy.View);
        _accelerator.Synchronize();
        HostCopy.ToHost(ds.View, state);
        HostCopy.ToHost(dy.View, y);
    }

    private MemoryBuffer1D<float, Stride1D.Dense> Upload(ReadOnlySpan<float> data) => HostCopy.Upload(_accelerator, data);
}
