using RwkvQuant.Formats;
using RwkvQuant.Vector;
using RwkvQuant.Vector.KMeans;

namespace RwkvQuant.Codebooks;

/// <summary>
/// The algorithm shared by both codebook optimizers: per group of G channels, weighted k-means (d = 1) on the scalar
/// values μ_j with weights s_j, so that each centroid is c_k = Σ s_j μ_j / Σ s_j over its members and the fit lowers
/// Σ_j s_j (μ_j − μ̂_j)² (by default warm-started from the unweighted fit, see
/// <see cref="CodebookOptimizerOptions.WarmStart"/>); then the codebooks are rounded to int8 + FP16 scale and every channel takes the nearest
/// centroid as stored.
/// </summary>
internal static class CodebookFitting
{
    /// <summary>Quantizes <paramref name="vector"/> with per-channel <paramref name="weights"/> (empty: all 1).</summary>
    public static QuantizedMultiplicationVector Quantize(TensorData vector, ReadOnlySpan<float> weights, CodebookOptimizerOptions options,
        string method, IReadOnlyList<string> notes, CancellationToken cancellationToken)
    {
        float[] values = ReadValues(vector);
        int groupSize = options.GroupSize, entries = 1 << options.Bits;
        int groups = (values.Length + groupSize - 1) / groupSize;
        KMeansResult[] fits = FitGroups(values, weights, options, cancellationToken);
        var codebooks = new double[(long)groups * entries];
        for (int g = 0; g < groups; g++)
            fits[g].Centroids.CopyTo(codebooks, (long)g * entries);

        CodebookStore store = CodebookStore.Encode(codebooks, groups, entries, CodebookPrecision.Int8WithScale);
        float[] decoded = store.Decode();
        var codes = new int[values.Length];
        var centroids = new double[entries];
        for (int g = 0; g < groups; g++)
        {
            // Codes point at the nearest centroid as stored (after int8 rounding), not as fitted; the weight of a channel
            // does not change which centroid is nearest to it.
            int start = g * groupSize, n = Math.Min(groupSize, values.Length - start);
            for (int k = 0; k < entries; k++)
                centroids[k] = decoded[g * entries + k];
            KMeans.Assign(values.AsSpan(start, n), 1, centroids, entries, [], codes.AsSpan(start, n), new double[n], out _);
        }
        return new QuantizedMultiplicationVector(vector.Name, vector.Shape, groupSize, options.Bits, codes, store, method, notes);
    }

    /// <summary>The k-means fit of every group (before int8 rounding), in group order.</summary>
    public static KMeansResult[] FitGroups(ReadOnlySpan<float> values, ReadOnlySpan<float> weights, CodebookOptimizerOptions options,
        CancellationToken cancellationToken)
    {
        int groupSize = options.GroupSize, entries = 1 << options.Bits;
        int groups = (values.Length + groupSize - 1) / groupSize;
        var fits = new KMeansResult[groups];
        for (int g = 0; g < groups; g++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int start = g * groupSize, n = Math.Min(groupSize, values.Length - start);
            ReadOnlySpan<float> points = values.Slice(start, n);
            ulong seed = KMeans.Mix((ulong)(uint)options.Seed << 32 | (uint)g);
            if (weights.IsEmpty || !options.WarmStart)
            {
                fits[g] = KMeans.Fit(points, 1, entries, weights.IsEmpty ? [] : weights.Slice(start, n),
                    options.Initialization, options.Iterations, tolerance: 0, seed);
            }
            else
            {
                KMeansResult unweighted = KMeans.Fit(points, 1, entries, [], options.Initialization, options.Iterations, tolerance: 0, seed);
                fits[g] = KMeans.FitFrom(points, 1, unweighted.Centroids, weights.Slice(start, n), options.Iterations, tolerance: 0);
            }
        }
        return fits;
    }

    /// <summary>The vector's values, flat; throws naming the tensor when one is not finite.</summary>
    public static float[] ReadValues(TensorData vector)
    {
        ArgumentNullException.ThrowIfNull(vector);
        if (vector.ElementCount < 1 || vector.ElementCount > int.MaxValue)
            throw new ArgumentException($"Vector '{vector.Name}' has {vector.ElementCount} values; 1 to {int.MaxValue} are supported.", nameof(vector));
        float[] values = vector.ToFloatArray();
        int bad = Array.FindIndex(values, v => !float.IsFinite(v));
        if (bad >= 0)
            throw new ArgumentException($"Vector '{vector.Name}' holds the non-finite value {values[bad]} at channel {bad}.", nameof(vector));
        return values;
    }

    /// <summary>
    /// Checks s_j for <paramref name="vector"/>: one value per channel, each finite and ≥ 0, not all zero (zero for some
    /// channels is allowed: they do not affect the output).
    /// </summary>
    public static void ValidateImportance(TensorData vector, ReadOnlySpan<float> importance)
    {
        if (importance.Length != vector.ElementCount)
            throw new ArgumentException($"Vector '{vector.Name}' has {vector.ElementCount} channels but {importance.Length} importance values were given.", nameof(importance));
        double total = 0;
        for (int j = 0; j < importance.Length; j++)
        {
            float s = importance[j];
            if (!float.IsFinite(s) || s < 0)
                throw new ArgumentException($"The importance of vector '{vector.Name}' is {s} at channel {j}; it must be finite and non-negative.", nameof(importance));
            total += s;
        }
        if (!(total > 0))
            throw new ArgumentException($"The importance of vector '{vector.Name}' is zero for every channel; the calibration never exercised it.", nameof(importance));
    }
}
