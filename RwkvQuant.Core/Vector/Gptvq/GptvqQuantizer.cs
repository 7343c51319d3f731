using System.Globalization;
using RwkvQuant.Formats;
using RwkvQuant.Quantization;
using RwkvQuant.Vector.KMeans;
using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Vector.Gptvq;

/// <summary>
/// GPTVQ (van Baalen et al. 2024, "GPTVQ: The Blessing of Dimensionality for LLM Quantization"): vector quantization
/// with GPTQ's error feedback. With U the upper Cholesky factor of (H + λI)⁻¹ and importance hⱼ = 1 / U_jj², columns
/// are processed left to right in blocks of <see cref="GptvqOptions.BlockSize"/>:
/// <list type="number">
/// <item>At the first column of each codebook group, the group's codebook is fitted by k-means on the current
/// (error-updated) weights, each coordinate weighted by the importance hⱼ of its column (for d = 1 a per-point weight,
/// which shapes the centroids; for d &gt; 1 a diagonal metric, which also shapes the assignments), and rounded to its
/// storage precision.</item>
/// <item>Each vector of d columns takes the centroid of least hⱼ-weighted distance; then, column by column, the error
/// eⱼ = (wⱼ − qⱼ) / U_jj is fed back into the later columns of the block, w_{j+1:} −= eⱼ U_{j, j+1:}, and after the block
/// into all later columns at once (lazy batch update).</item>
/// <item>With the assignments fixed, the centroid values θ are refined against tr((W − Q(θ)) H (W − Q(θ))ᵀ) (a linear
/// least-squares problem in θ) by <see cref="GptvqOptions.RefinementIterations"/> steps of Jacobi-preconditioned
/// conjugate gradients on its normal equations, keeping the result only if the error did not grow.</item>
/// <item>The codebooks are stored in their precision (int8 + FP16 scale by default) or as SVD factors.</item>
/// </list>
/// Deviation from the reference code: the assignment metric uses 1/U_jj² (the cost GPTQ's error feedback assigns to a
/// column) rather than 1/U_jj. Stateless and thread-safe; deterministic for given options.
/// </summary>
public sealed class GptvqQuantizer : IVectorQuantizer
{
    /// <summary>Factorization attempts: the configured damping, then up to 8 raises by ×10.</summary>
    private const int MaxDampingAttempts = 9;

    /// <summary>A quantizer with <paramref name="options"/> (default: <see cref="GptvqOptions.Default"/>).</summary>
    /// <exception cref="ArgumentException">The options do not fit together (block size, group width, dimension, SVD rank).</exception>
    public GptvqQuantizer(GptvqOptions? options = null)
    {
        Options = options ?? GptvqOptions.Default;
        Options.ValidateCombination();
    }

    /// <summary>The options.</summary>
    public GptvqOptions Options { get; }

    /// <inheritdoc />
    public string Name => string.Create(CultureInfo.InvariantCulture,
        $"gptvq d{Options.Codebooks.Dimension} b{Options.Codebooks.Bits} g{Options.Codebooks.GroupRows}x{Options.Codebooks.GroupColumns}");

    /// <inheritdoc />
    public bool RequiresHessian => true;

    /// <inheritdoc />
    public long StoredBitsFor(int rows, int columns)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        VectorLayout layout = Options.Codebooks.LayoutFor(rows, columns);
        layout.Validate($"[{rows}, {columns}]");
        if (Options.SvdRank > Math.Min(layout.Groups, layout.CodebookLength))
            throw new ArgumentException($"A [{rows}, {columns}] weight has {layout.Groups} codebooks; an SVD of rank {Options.SvdRank} needs at least as many.");
        return VectorQuantizedTensor.StoredBitsOf(layout, Options.Codebooks.CodebookPrecision, Options.SvdRank);
    }

    /// <inheritdoc />
    public QuantizedTensor Quantize(TensorData weight, Hessian? hessian = null, CancellationToken cancellationToken = default)
    {
        float[] values = VectorInput.Read(weight, hessian, requiresHessian: true, out int rows, out int columns);
        KMeansOptions codebookOptions = Options.Codebooks;
        VectorLayout layout = codebookOptions.LayoutFor(rows, columns);
        layout.Validate(weight.Name);
        var notes = new List<string>();
        double[] u; // U [cols, cols], row-major
        bool[] dead;
        using (var scope = NewDisposeScope())
        {
            Tensor h = hessian!.ToTensor();
            dead = InverseHessianFactor.ReviveDeadColumns(h);
            u = InverseHessianFactor.ComputeConsuming(h, Options.DampingFraction, MaxDampingAttempts, weight.Name, notes).contiguous().data<double>().ToArray();
        }
        var importance = new float[columns];
        for (int c = 0; c < columns; c++)
            importance[c] = (float)(1.0 / (u[(long)c * columns + c] * u[(long)c * columns + c]));

        var original = new float[values.Length]; // W with dead columns zeroed: the target of refinement
        for (int i = 0; i < values.Length; i++)
            original[i] = dead[i % columns] ? 0f : values[i];
        var codes = new int[layout.CodeCount];
        var codebooks = new double[(long)layout.Groups * layout.CodebookLength];
        Pass(original, layout, u, importance, codes, codebooks, cancellationToken);

        if (Options.RefinementIterations > 0)
            CentroidRefinement.Refine(original, hessian!, layout, codes, codebooks, Options.RefinementIterations, notes, cancellationToken);

        CodebookStore store = Options.SvdRank > 0
            ? CodebookStore.EncodeSvd(codebooks, layout, Options.SvdRank, codes)
            : CodebookStore.Encode(codebooks, layout.Groups, layout.CodebookLength, codebookOptions.CodebookPrecision);
        return new VectorQuantizedTensor(weight.Name, layout, codes, store, "gptvq") { Notes = notes };
    }

    /// <summary>The GPTQ-style pass: fits each group's codebook and assigns codes with error feedback.</summary>
    private void Pass(float[] original, VectorLayout layout, double[] u, float[] importance, int[] codes, double[] codebooks, CancellationToken cancellationToken)
    {
        int rows = layout.Rows, columns = layout.Columns, d = layout.Dimension, entries = layout.Entries, length = layout.CodebookLength;
        KMeansOptions codebookOptions = Options.Codebooks;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor w = tensor(Array.ConvertAll(original, x => (double)x), [rows, columns], ScalarType.Float64); // updated weights
        Tensor uTensor = tensor(u, [columns, columns], ScalarType.Float64);
        for (int i1 = 0; i1 < columns; i1 += Options.BlockSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int i2 = Math.Min(i1 + Options.BlockSize, columns), count = i2 - i1;
            double[] block = w.narrow(1, i1, count).contiguous().data<double>().ToArray(); // W1 [rows, count]
            var errors = new double[block.Length]; // E1 [rows, count]
            var parallel = new ParallelOptions { CancellationToken = cancellationToken };
            // Rows never interact in the pass, so row groups run in parallel; each owns its rows of W1 and E1.
            Parallel.For(0, layout.RowGroups, parallel, rowGroup =>
            {
                int row0 = rowGroup * layout.GroupRows, row1 = Math.Min(row0 + layout.GroupRows, rows);
                var points = new float[layout.GroupRows * layout.GroupColumns];
                var weights = new float[points.Length];
                var centroids = new double[length];
                for (int c0 = i1; c0 < i2; c0 += layout.GroupColumns)
                {
                    int c1 = Math.Min(c0 + layout.GroupColumns, columns), width = c1 - c0;
                    int g = layout.GroupOf(row0, c0), n = 0;
                    for (int r = row0; r < row1; r++)
                    {
                        for (int c = c0; c < c1; c++, n++)
                        {
                            points[n] = (float)block[(long)r * count + c - i1];
                            weights[n] = importance[c];
                        }
                    }
                    KMeansResult fit = KMeans.KMeans.Fit(points.AsSpan(0, n), d, entries, weights.AsSpan(0, n), codebookOptions.Initialization,
                        codebookOptions.MaxIterations, codebookOptions.Tolerance, KMeans.KMeans.Mix((ulong)(uint)codebookOptions.Seed << 32 | (uint)g), codebookOptions.Search);
                    // The pass feeds back the error of the centroids as they will be stored.
                    float[] stored = CodebookStore.Encode(fit.Centroids, 1, length, codebookOptions.CodebookPrecision).Decode();
                    for (int j = 0; j < length; j++)
                        centroids[j] = stored[j];
                    centroids.CopyTo(codebooks, (long)g * length);

                    for (int c = c0; c < c1; c += d)
                    {
                        for (int r = row0; r < row1; r++)
                        {
                            long at = (long)r * count + c - i1;
                            int best = Nearest(block.AsSpan((int)at, d), centroids, entries, importance.AsSpan(c, d));
                            codes[(long)r * layout.VectorsPerRow + c / d] = best;
                            for (int j = 0; j < d; j++)
                            {
                                int local = c + j - i1;
                                double diagonal = u[(long)(c + j) * columns + c + j];
                                double error = (block[at + j] - centroids[best * d + j]) / diagonal;
                                errors[(long)r * count + local] = error;
                                int tail = count - local - 1;
                                if (tail > 0)
                                {
                                    Span<double> target = block.AsSpan((int)(at + j + 1), tail);
                                    System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(u.AsSpan((int)((long)(c + j) * columns + c + j + 1), tail), -error, target, target);
                                }
                            }
                        }
                    }
                }
            });
            if (i2 < columns)
            {
                using var blockScope = NewDisposeScope();
                Tensor e1 = tensor(errors, [rows, count], ScalarType.Float64);
                w.narrow(1, i2, columns - i2).sub_(e1.matmul(uTensor.narrow(0, i1, count).narrow(1, i2, columns - i2)));
            }
        }
    }

    /// <summary>The centroid of least importance-weighted distance Σⱼ hⱼ (xⱼ − cⱼ)² (ties to the lowest index).</summary>
    private static int Nearest(ReadOnlySpan<double> x, double[] centroids, int entries, ReadOnlySpan<float> importance)
    {
        int d = x.Length, best = 0;
        double bestDistance = double.PositiveInfinity;
        for (int e = 0; e < entries; e++)
        {
            double distance = 0;
            for (int j = 0; j < d; j++)
            {
                double difference = x[j] - centroids[e * d + j];
                distance += importance[j] * difference * difference;
            }
            if (distance < bestDistance)
            {
                bestDistance = distance;
                best = e;
            }
        }
        return best;
    }
}
