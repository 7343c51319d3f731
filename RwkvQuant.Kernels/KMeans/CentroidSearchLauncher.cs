using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using RwkvQuant.Kernels.Accelerators;

namespace RwkvQuant.Kernels.KMeans;

/// <summary>
/// Runs <see cref="CentroidSearchKernel.Search"/> on one accelerator: the kernel is loaded once per accelerator
/// (<see cref="For"/> caches the launcher) and every launch checks the views' lengths first.
/// </summary>
public sealed class CentroidSearchLauncher : ICentroidSearch
{
    private static readonly ConditionalWeakTable<Accelerator, CentroidSearchLauncher> Cache = [];

    private readonly Accelerator _accelerator;
    private readonly Lock _lock = new(); // quantizers search groups from several threads; one launch sequence at a time
    private readonly Action<Index1D, ArrayView<float>, ArrayView<double>, ArrayView<float>, int, int, int, ArrayView<int>, ArrayView<double>> _kernel;

    /// <summary>Loads the kernel on <paramref name="accelerator"/>.</summary>
    public CentroidSearchLauncher(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        _accelerator = accelerator;
        _kernel = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<double>, ArrayView<float>,
            int, int, int, ArrayView<int>, ArrayView<double>>(CentroidSearchKernel.Search);
    }

    /// <summary>The launcher of <paramref name="accelerator"/>, created on first use and kept while the accelerator lives.</summary>
    public static CentroidSearchLauncher For(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        return Cache.GetValue(accelerator, a => new CentroidSearchLauncher(a));
    }

    /// <summary>
    /// Launches on device views (asynchronously, on the default stream). <paramref name="weights"/> may be empty
    /// (plain distance).
    /// </summary>
    public void Launch(ArrayView<float> points, int dimension, ArrayView<double> centroids, ArrayView<float> weights,
        ArrayView<int> nearest, ArrayView<double> distances)
    {
        (int n, int k) = CentroidSearchShape.Validate(points.Length, dimension, centroids.Length, weights.Length, nearest.Length, distances.Length);
        if (n == 0)
            return;
        _kernel(n, points, centroids, weights, dimension, k, weights.Length == 0 ? 0 : 1, nearest, distances);
    }

    /// <inheritdoc />
    public void Search(ReadOnlySpan<float> points, int dimension, ReadOnlySpan<double> centroids, ReadOnlySpan<float> weights,
        Span<int> nearest, Span<double> distances)
    {
        (int n, _) = CentroidSearchShape.Validate(points.Length, dimension, centroids.Length, weights.Length, nearest.Length, distances.Length);
        if (n == 0)
            return;
        lock (_lock)
            SearchOnDevice(points, dimension, centroids, weights, nearest, distances, n);
    }

    private void SearchOnDevice(ReadOnlySpan<float> points, int dimension, ReadOnlySpan<double> centroids, ReadOnlySpan<float> weights,
        Span<int> nearest, Span<double> distances, int n)
    {
        using MemoryBuffer1D<float, Stride1D.Dense> dp = Upload(points), dw = Upload(weights);
        using MemoryBuffer1D<double, Stride1D.Dense> dc = Upload(centroids), dd = _accelerator.Allocate1D<double>(n);
        using MemoryBuffer1D<int, Stride1D.Dense> di = _accelerator.Allocate1D<int>(n);
        Launch(dp.View, dimension, dc.View, weights.IsEmpty ? ArrayView<float>.Empty : dw.View, di.View, dd.View);
        _accelerator.Synchronize();
        HostCopy.ToHost(di.View, nearest[..n]);
        HostCopy.ToHost(dd.View, distances[..n]);
    }

    private MemoryBuffer1D<T, Stride1D.Dense> Upload<T>(ReadOnlySpan<T> data) where T : unmanaged => HostCopy.Upload(_accelerator, data);
}
