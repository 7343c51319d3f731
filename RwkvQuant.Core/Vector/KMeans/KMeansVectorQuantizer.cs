using System.Globalization;
using RwkvQuant.Formats;
using RwkvQuant.Quantization;

namespace RwkvQuant.Vector.KMeans;

/// <summary>
/// Plain k-means vector quantization: each codebook group (<see cref="KMeansOptions.GroupRows"/> ×
/// <see cref="KMeansOptions.GroupColumns"/>) gets its own 2^b centroids of dimension d fitted by Lloyd's algorithm on the
/// group's weights (unweighted squared distance), the codebook is stored in its precision, and every vector takes the
/// nearest stored centroid. Ignores any Hessian. Stateless and thread-safe; deterministic for given options.
/// </summary>
public sealed class KMeansVectorQuantizer : IVectorQuantizer
{
    /// <summary>A quantizer with <paramref name="options"/> (default: <see cref="KMeansOptions.Default"/>).</summary>
    /// <exception cref="ArgumentException">The group width is not a multiple of the dimension.</exception>
    public KMeansVectorQuantizer(KMeansOptions? options = null)
    {
        Options = options ?? KMeansOptions.Default;
        Options.ValidateCombination();
    }

    /// <summary>The options.</summary>
    public KMeansOptions Options { get; }

    /// <inheritdoc />
    public string Name => string.Create(CultureInfo.InvariantCulture,
        $"kmeans d{Options.Dimension} b{Options.Bits} g{Options.GroupRows}x{Options.GroupColumns}");

    /// <inheritdoc />
    public bool RequiresHessian => false;

    /// <inheritdoc />
    public long StoredBitsFor(int rows, int columns)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        VectorLayout layout = Options.LayoutFor(rows, columns);
        layout.Validate($"[{rows}, {columns}]");
        return VectorQuantizedTensor.StoredBitsOf(layout, Options.CodebookPrecision, svdRank: 0);
    }

    /// <inheritdoc />
    public QuantizedTensor Quantize(TensorData weight, Hessian? hessian = null, CancellationToken cancellationToken = default)
    {
        float[] values = VectorInput.Read(weight, hessian: null, requiresHessian: false, out int rows, out int columns);
        VectorLayout layout = Options.LayoutFor(rows, columns);
        layout.Validate(weight.Name);
        int length = layout.CodebookLength, entries = layout.Entries, d = layout.Dimension;
        var codebooks = new double[(long)layout.Groups * length];
        var parallel = new ParallelOptions { CancellationToken = cancellationToken };
        Parallel.For(0, layout.Groups, parallel, () => new float[layout.GroupRows * layout.GroupColumns], (g, _, points) =>
        {
            int n = VectorInput.Gather(values, layout, g, points);
            KMeansResult fit = KMeans.Fit(points.AsSpan(0, n * d), d, entries, [], Options.Initialization,
                Options.MaxIterations, Options.Tolerance, KMeans.Mix((ulong)(uint)Options.Seed << 32 | (uint)g), Options.Search);
            fit.Centroids.CopyTo(codebooks, (long)g * length);
            return points;
        }, _ => { });

        CodebookStore store = CodebookStore.Encode(codebooks, layout.Groups, length, Options.CodebookPrecision);
        float[] decoded = store.Decode();
        var codes = new int[layout.CodeCount];
        Parallel.For(0, layout.Groups, parallel, g =>
        {
            // Codes point at the nearest centroid as stored (after rounding the codebook), not as fitted.
            var points = new float[layout.GroupRows * layout.GroupColumns];
            int n = VectorInput.Gather(values, layout, g, points);
            var centroids = new double[length];
            for (int j = 0; j < length; j++)
                centroids[j] = decoded[(long)g * length + j];
            var groupCodes = new int[n];
            KMeans.Assign(points.AsSpan(0, n * d), d, centroids, entries, [], groupCodes, new double[n], out _, Options.Search);
            VectorInput.Scatter(groupCodes, layout, g, codes);
        });
        return new VectorQuantizedTensor(weight.Name, layout, codes, store, "kmeans");
    }
}
