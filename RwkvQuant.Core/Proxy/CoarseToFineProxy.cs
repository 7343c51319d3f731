using System.Globalization;
using RwkvQuant.Formats;
using RwkvQuant.Scalar;

namespace RwkvQuant.Proxy;

/// <summary>
/// RWKVQuant's coarse-to-fine proxy. Flatten W, sort ascending, take the neighbour gaps G_i = w'_{i+1} − w'_i
/// (in <see cref="GapMode.PaperFp16UniqueGaps"/> mode: of the FP16-rounded weights, saturated at ±65504, keeping only
/// the distinct non-zero gap values), normalise G'_i = G_i / Σ G, and compute in double
/// <list type="bullet">
/// <item>the coarse proxy (uniformity) P_c = ln n − H(G') = ln n + Σ G'_i ln G'_i, with 0·ln 0 = 0;</item>
/// <item>the fine proxy (outliers) P_f = Σ_{k=2..K} n^k / (k(k−1)) · |M_k| with G'_i = 1/n + d_i and
/// M_k = mean(d^k), evaluated as mean((n·G'_i − 1)^k) = n^k·M_k.</item>
/// </list>
/// n is the number of gaps used. Degenerate weights whose gaps sum to zero (a single value, or all values equal) score
/// P_c = P_f = 0 — a constant matrix is exactly representable on a grid, so it goes to SQ.
/// </summary>
public sealed class CoarseToFineProxy : IProxy
{
    /// <summary>Creates the proxy with <paramref name="options"/> (default <see cref="CoarseToFineProxyOptions.Default"/>).</summary>
    public CoarseToFineProxy(CoarseToFineProxyOptions? options = null) => Options = options ?? CoarseToFineProxyOptions.Default;

    /// <summary>The options.</summary>
    public CoarseToFineProxyOptions Options { get; }

    /// <inheritdoc />
    public string Name => string.Create(CultureInfo.InvariantCulture,
        $"coarse-to-fine K{Options.Order} {(Options.Mode == GapMode.Raw ? "raw" : "fp16-unique")}");

    /// <inheritdoc />
    public ProxyScore Score(TensorData weight)
    {
        WeightMatrix w = WeightMatrix.Read(weight);
        double[] gaps = Gaps(w.Values, Options.Mode);
        (double coarse, double fine) = Evaluate(gaps, Options.Order);
        return new ProxyScore(w.Name, w.Values.LongLength, coarse, fine);
    }

    /// <summary>The gaps the proxies use (see <see cref="GapMode"/>).</summary>
    internal static double[] Gaps(ReadOnlySpan<float> values, GapMode mode)
    {
        if (mode == GapMode.PaperFp16UniqueGaps)
            return UniqueFp16Gaps(values);
        var sorted = new double[values.Length];
        for (int i = 0; i < values.Length; i++)
            sorted[i] = values[i];
        Array.Sort(sorted);
        if (sorted.Length < 2)
            return [];
        var gaps = new double[sorted.Length - 1];
        for (int i = 0; i < gaps.Length; i++)
            gaps[i] = sorted[i + 1] - sorted[i];
        return gaps;
    }

    /// <summary>
    /// The distinct non-zero gaps between neighbours of the sorted FP16-rounded values, ascending — what sorting the
    /// rounded values and collecting their gaps gives (<see cref="UniqueFp16GapsBySorting"/>, the reference), found
    /// without sorting: an FP16 value is one of 65,536 bit patterns, so a presence table of those, read in the order of
    /// their values, lists the distinct values in order (one pass, 8 KB, instead of a sort of N doubles: 16 bytes a weight,
    /// O(N log N), minutes at 14B). NaN is left out as the sort leaves it out; −0 and +0 are one value.
    /// </summary>
    internal static double[] UniqueFp16Gaps(ReadOnlySpan<float> values)
    {
        var present = new bool[1 << 16];
        foreach (float value in values)
        {
            if (!float.IsNaN(value))
                present[Fp16Key(value)] = true;
        }
        var distinct = new HashSet<double>();
        double previous = double.NaN;
        foreach (ushort bits in Fp16BitsInValueOrder())
        {
            if (!present[bits])
                continue;
            double value = (double)BitConverter.UInt16BitsToHalf(bits);
            if (!double.IsNaN(previous))
                distinct.Add(value - previous); // exact for FP16 inputs (both fit in a double's mantissa), and > 0
            previous = value;
        }
        double[] unique = [.. distinct];
        Array.Sort(unique); // a fixed order makes the sums in Evaluate deterministic
        return unique;
    }

    /// <summary>The reference twin of <see cref="UniqueFp16Gaps"/>: sort the rounded values, keep the distinct non-zero gaps.</summary>
    internal static double[] UniqueFp16GapsBySorting(ReadOnlySpan<float> values)
    {
        var sorted = new double[values.Length];
        for (int i = 0; i < values.Length; i++)
            sorted[i] = ToFp16(values[i]);
        Array.Sort(sorted);
        var distinct = new HashSet<double>();
        for (int i = 0; i + 1 < sorted.Length; i++)
        {
            double gap = sorted[i + 1] - sorted[i];
            if (gap > 0)
                distinct.Add(gap);
        }
        double[] unique = [.. distinct];
        Array.Sort(unique);
        return unique;
    }

    /// <summary>The FP16 bit pattern of the value rounded to FP16 (saturating at ±65504; −0 as +0).</summary>
    private static ushort Fp16Key(float value)
    {
        double rounded = ToFp16(value);
        return rounded == 0 ? (ushort)0 : BitConverter.HalfToUInt16Bits((Half)rounded);
    }

    /// <summary>Every finite FP16 bit pattern but −0, from −65504 up to +65504.</summary>
    private static IEnumerable<ushort> Fp16BitsInValueOrder()
    {
        for (int bits = 0xFBFF; bits > 0x8000; bits--) // negative: a larger pattern is a more negative value
            yield return (ushort)bits;
        for (int bits = 0; bits <= 0x7BFF; bits++)
            yield return (ushort)bits;
    }

    /// <summary>The value rounded to FP16, saturating at ±65504 instead of overflowing to infinity.</summary>
    private static double ToFp16(float value)
    {
        double rounded = (double)(Half)value;
        return double.IsInfinity(rounded) ? Math.CopySign((double)Half.MaxValue, rounded) : rounded;
    }

    /// <summary>P_c and P_f of non-negative <paramref name="gaps"/>; (0, 0) when they sum to zero.</summary>
    internal static (double Coarse, double Fine) Evaluate(ReadOnlySpan<double> gaps, int order)
    {
        int n = gaps.Length;
        double total = 0;
        foreach (double gap in gaps)
            total += gap;
        if (n == 0 || !(total > 0))
            return (0, 0);

        double coarse = Math.Log(n);
        var sums = new double[order + 1]; // sums[k] = Σ (n·G'_i − 1)^k
        foreach (double gap in gaps)
        {
            double normalised = gap / total; // G'_i
            if (normalised > 0)
                coarse += normalised * Math.Log(normalised);
            double e = n * normalised - 1;   // n·d_i
            double power = e;
            for (int k = 2; k <= order; k++)
            {
                power *= e;
                sums[k] += power;
            }
        }
        double fine = 0;
        for (int k = 2; k <= order; k++)
            fine += Math.Abs(sums[k] / n) / (k * (k - 1.0)); // n^k·|M_k| / (k(k−1))
        // Rounding can leave P_c a hair below its minimum 0 for an exactly even grid.
        return (Math.Max(coarse, 0), fine);
    }
}
