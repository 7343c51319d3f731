using System.Numerics.Tensors;

namespace RwkvQuant.Scalar;

/// <summary>
/// The uniform grid of one group, x̂ = s·(q − z) with integer codes q ∈ [0, 2^b − 1], and the min/max fit of s and z
/// shared by round-to-nearest and GPTQ (so that both put the same group on the same grid).
/// </summary>
/// <remarks>
/// The fitted range always includes 0 (as gptq.py's <c>Quantizer</c> does): weights are centred, so this costs
/// almost nothing, keeps the zero in [0, 2^b − 1] where FP16/BF16 represent it finely, and makes a constant group
/// exact up to half a step. The stored s and z are chosen so that the stored grid still covers [min, max]: s is
/// rounded up to the storage precision and z is a representable value in the interval that keeps both ends on the
/// grid (s is raised one representable step at a time until such a z exists). Every element of the group is
/// therefore within half a stored step, s/2, of its code's value.
/// </remarks>
internal readonly record struct GroupGrid(float Scale, float Zero)
{
    /// <summary>Most times the scale is raised by one representable step while looking for a representable zero.</summary>
    private const int MaxScaleSteps = 4096;

    /// <summary>Fits the grid to values in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    /// <exception cref="ArgumentException">The range needs a scale that overflows the precision.</exception>
    public static GroupGrid Fit(double min, double max, int bits, bool symmetric, ScalePrecision precision)
    {
        int maxCode = (1 << bits) - 1;
        double low = Math.Min(min, 0), high = Math.Max(max, 0);
        if (symmetric)
        {
            int half = 1 << (bits - 1);
            // x/s ∈ [−2^(b−1), 2^(b−1) − 1]: the smallest s that covers both ends.
            double ideal = Math.Max(-low / half, high / (half - 1));
            float scale = StoredFloat.Ceiling(ideal, precision);
            ThrowIfOverflow(scale, low, high, precision);
            return new GroupGrid(scale, half);
        }
        if (high == low)
            return new GroupGrid(0, 0); // an all-zero group
        float s = StoredFloat.Ceiling((high - low) / maxCode, precision);
        for (int step = 0; step < MaxScaleSteps; step++, s = StoredFloat.NextUp(s, precision))
        {
            ThrowIfOverflow(s, low, high, precision);
            // z keeps low on code ≥ 0 and high on code ≤ 2^b − 1: z ∈ [−low/s, 2^b − 1 − high/s].
            double zeroLow = -low / s, zeroHigh = maxCode - high / s;
            double middle = (zeroLow + zeroHigh) / 2;
            float below = StoredFloat.Floor(middle, precision), above = StoredFloat.Ceiling(middle, precision);
            float zero = middle - below <= above - middle ? below : above;
            if (zero >= zeroLow && zero <= zeroHigh)
                return new GroupGrid(s, zero);
        }
        throw new InvalidOperationException($"No representable zero point found for the range [{low}, {high}] in {precision}.");
    }

    /// <summary>Shrink steps of <see cref="Search"/>: the range × 1, 0.98, …, 0.80.</summary>
    private const int ShrinkSteps = 10;

    /// <summary>
    /// The grid with the least squared error over <paramref name="values"/> among <paramref name="fit"/>(p·min, p·max)
    /// for p = 1, 0.98, …, 0.80 (the first on ties: the unshrunk fit wins when clipping gains nothing).
    /// </summary>
    public static GroupGrid Search(ReadOnlySpan<float> values, int bits, Func<double, double, GroupGrid> fit)
    {
        float min = TensorPrimitives.Min(values), max = TensorPrimitives.Max(values);
        int maxCode = (1 << bits) - 1;
        GroupGrid best = fit(min, max);
        double bestError = best.SquaredError(values, maxCode);
        for (int step = 1; step <= ShrinkSteps; step++)
        {
            double p = 1 - 0.02 * step;
            GroupGrid candidate = fit(p * min, p * max);
            if (candidate == best)
                continue;
            double error = candidate.SquaredError(values, maxCode);
            if (error < bestError)
                (best, bestError) = (candidate, error);
        }
        return best;
    }

    /// <summary>Σ (x − decode(encode(x)))² over <paramref name="values"/>.</summary>
    public double SquaredError(ReadOnlySpan<float> values, int maxCode)
    {
        double total = 0;
        foreach (float v in values)
        {
            double e = v - (double)Decode(Encode(v, maxCode));
            total += e * e;
        }
        return total;
    }

    /// <summary>The code of <paramref name="x"/>: clamp(round(x/s + z), 0, 2^b − 1), ties to even.</summary>
    public int Encode(float x, int maxCode)
    {
        if (Scale == 0)
            return Math.Clamp((int)Zero, 0, maxCode);
        double code = Math.Round(x / (double)Scale + Zero);
        return code <= 0 ? 0 : code >= maxCode ? maxCode : (int)code;
    }

    /// <summary>The value of code <paramref name="code"/>: s·(q − z).</summary>
    public float Decode(int code) => Scale * (code - Zero);

    private static void ThrowIfOverflow(float scale, double low, double high, ScalePrecision precision)
    {
        if (!float.IsFinite(scale))
            throw new ArgumentException($"Weights in [{low}, {high}] need a scale beyond the range of {precision}; store scales as F32.");
    }
}
