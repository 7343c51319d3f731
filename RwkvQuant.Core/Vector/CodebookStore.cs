using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Vector;

/// <summary>
/// The stored codebooks of a vector-quantized tensor: G codebooks of L = 2^b·d floats each, held in one of three forms.
/// <list type="bullet">
/// <item><b>Int8 + scale</b>: <c>int8[G, L]</c> and <c>fp16[G]</c>; codebook g = scale[g] · int8[g, :].</item>
/// <item><b>FP16</b>: <c>fp16[G, L]</c>.</item>
/// <item><b>SVD rank r</b>: the stacked codebooks C <c>[G, L]</c> ≈ U·V with U <c>fp16[G, r]</c> (left singular vectors
/// times singular values) and V <c>fp16[r, L]</c> (right singular vectors); codebook g = U[g, :]·V.</item>
/// </list>
/// Immutable once built.
/// </summary>
internal sealed class CodebookStore
{
    private readonly sbyte[]? _int8;
    private readonly Half[]? _scales;
    private readonly Half[]? _fp16;
    private readonly Half[]? _u;
    private readonly Half[]? _v;

    private CodebookStore(int groups, int length, sbyte[]? int8, Half[]? scales, Half[]? fp16, Half[]? u, Half[]? v, int rank)
    {
        Groups = groups;
        Length = length;
        _int8 = int8;
        _scales = scales;
        _fp16 = fp16;
        _u = u;
        _v = v;
        SvdRank = rank;
    }

    /// <summary>Number of codebooks G.</summary>
    public int Groups { get; }

    /// <summary>Floats per codebook L.</summary>
    public int Length { get; }

    /// <summary>The rank r of the SVD factors, or 0 when the codebooks are stored directly.</summary>
    public int SvdRank { get; }

    /// <summary>The storage precision of direct codebooks (meaningless when <see cref="SvdRank"/> &gt; 0).</summary>
    public CodebookPrecision Precision => _int8 is null ? CodebookPrecision.Fp16 : CodebookPrecision.Int8WithScale;

    /// <summary>The int8 codebooks <c>[G, L]</c>; empty unless stored as int8 + scale.</summary>
    public ReadOnlySpan<sbyte> Int8 => _int8;

    /// <summary>The FP16 scale of each int8 codebook <c>[G]</c>; empty unless stored as int8 + scale.</summary>
    public ReadOnlySpan<Half> Int8Scales => _scales;

    /// <summary>The FP16 codebooks <c>[G, L]</c>; empty unless stored as FP16.</summary>
    public ReadOnlySpan<Half> Fp16 => _fp16;

    /// <summary>The SVD factor U <c>[G, r]</c>; empty unless stored as SVD factors.</summary>
    public ReadOnlySpan<Half> SvdU => _u;

    /// <summary>The SVD factor V <c>[r, L]</c>; empty unless stored as SVD factors.</summary>
    public ReadOnlySpan<Half> SvdV => _v;

    /// <summary>Rebuilds int8 + scale codebooks from stored parts (taken, sizes checked).</summary>
    public static CodebookStore FromInt8(int groups, int length, sbyte[] int8, Half[] scales)
    {
        CheckSize(groups, length);
        if (int8.LongLength != (long)groups * length || scales.Length != groups)
            throw new ArgumentException($"{groups} int8 codebooks of {length} values need {(long)groups * length} values and {groups} scales, got {int8.LongLength} and {scales.Length}.", nameof(int8));
        return new CodebookStore(groups, length, int8, scales, null, null, null, 0);
    }

    /// <summary>Rebuilds FP16 codebooks from stored parts (taken, size checked).</summary>
    public static CodebookStore FromFp16(int groups, int length, Half[] fp16)
    {
        CheckSize(groups, length);
        if (fp16.LongLength != (long)groups * length)
            throw new ArgumentException($"{groups} FP16 codebooks of {length} values need {(long)groups * length} values, got {fp16.LongLength}.", nameof(fp16));
        return new CodebookStore(groups, length, null, null, fp16, null, null, 0);
    }

    /// <summary>Rebuilds rank-<paramref name="rank"/> SVD factors from stored parts (taken, sizes checked).</summary>
    public static CodebookStore FromSvd(int groups, int length, int rank, Half[] u, Half[] v)
    {
        CheckSize(groups, length);
        if (rank < 1 || rank > Math.Min(groups, length))
            throw new ArgumentOutOfRangeException(nameof(rank), rank, $"The SVD rank must lie in [1, min(groups {groups}, codebook length {length})].");
        if (u.LongLength != (long)groups * rank || v.LongLength != (long)rank * length)
            throw new ArgumentException($"Rank-{rank} factors of {groups} codebooks of {length} values need {(long)groups * rank} and {(long)rank * length} values, got {u.LongLength} and {v.LongLength}.", nameof(u));
        return new CodebookStore(groups, length, null, null, null, u, v, rank);
    }

    private static void CheckSize(int groups, int length)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(groups, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
    }

    /// <summary>Bits stored: G·(8L + 16) for int8 + scale, 16·G·L for FP16, 16·r·(G + L) for SVD factors.</summary>
    public long StoredBits => StoredBitsOf(Groups, Length, Precision, SvdRank);

    /// <summary><see cref="StoredBits"/> of <paramref name="groups"/> codebooks of <paramref name="length"/> floats, from the sizes alone.</summary>
    public static long StoredBitsOf(int groups, int length, CodebookPrecision precision, int svdRank) => svdRank > 0
        ? 16L * svdRank * (groups + length)
        : precision == CodebookPrecision.Int8WithScale ? (long)groups * (8L * length + 16) : 16L * groups * length;

    /// <summary>A short description for the tensor's scheme, e.g. <c>"int8+f16"</c> or <c>"svd4 f16"</c>.</summary>
    public string Describe() => SvdRank > 0 ? $"svd{SvdRank} f16" : _int8 is not null ? "int8+f16" : "f16";

    /// <summary>The decoded codebooks <c>[G, L]</c> as float32, the values that dequantization uses.</summary>
    public float[] Decode()
    {
        var result = new float[(long)Groups * Length];
        if (_int8 is not null)
        {
            for (int g = 0; g < Groups; g++)
            {
                float scale = (float)_scales![g];
                for (int j = 0; j < Length; j++)
                    result[(long)g * Length + j] = scale * _int8[(long)g * Length + j];
            }
        }
        else if (_fp16 is not null)
        {
            for (long i = 0; i < result.Length; i++)
                result[i] = (float)_fp16[i];
        }
        else
        {
            for (int g = 0; g < Groups; g++)
            {
                for (int j = 0; j < Length; j++)
                {
                    float sum = 0;
                    for (int k = 0; k < SvdRank; k++)
                        sum += (float)_u![(long)g * SvdRank + k] * (float)_v![(long)k * Length + j];
                    result[(long)g * Length + j] = sum;
                }
            }
        }
        return result;
    }

    /// <summary>Stores <paramref name="codebooks"/> <c>[groups, length]</c> directly in <paramref name="precision"/>.</summary>
    public static CodebookStore Encode(ReadOnlySpan<double> codebooks, int groups, int length, CodebookPrecision precision)
    {
        if (codebooks.Length != (long)groups * length)
            throw new ArgumentException($"{groups} codebooks of {length} values need {(long)groups * length} values, got {codebooks.Length}.", nameof(codebooks));
        if (precision == CodebookPrecision.Fp16)
        {
            var fp16 = new Half[codebooks.Length];
            for (int i = 0; i < fp16.Length; i++)
                fp16[i] = ToFp16(codebooks[i]);
            return new CodebookStore(groups, length, null, null, fp16, null, null, 0);
        }
        var int8 = new sbyte[codebooks.Length];
        var scales = new Half[groups];
        for (int g = 0; g < groups; g++)
        {
            ReadOnlySpan<double> codebook = codebooks.Slice(g * length, length);
            double largest = 0;
            foreach (double value in codebook)
                largest = Math.Max(largest, Math.Abs(value));
            // The scale is rounded to FP16 first and the int8 values are fitted to the rounded scale, so that
            // scale · q reproduces exactly what dequantization computes.
            Half scale = ToFp16(largest / 127);
            scales[g] = scale;
            double s = (double)scale;
            for (int j = 0; j < length; j++)
                int8[g * length + j] = s == 0 ? (sbyte)0 : (sbyte)Math.Clamp(Math.Round(codebook[j] / s, MidpointRounding.ToEven), -127, 127);
        }
        return new CodebookStore(groups, length, int8, scales, null, null, null, 0);
    }

    /// <summary>
    /// Stores the codebooks as rank-<paramref name="rank"/> SVD factors. Each codebook's centroids are first sorted by
    /// their first coordinate (so that the stacked codebooks share a structure that a low rank captures, as GPTVQ does),
    /// and <paramref name="codes"/> are remapped to the sorted order in place.
    /// </summary>
    public static CodebookStore EncodeSvd(ReadOnlySpan<double> codebooks, VectorLayout layout, int rank, Span<int> codes)
    {
        int groups = layout.Groups, entries = layout.Entries, d = layout.Dimension, length = layout.CodebookLength;
        if (rank < 1 || rank > Math.Min(groups, length))
            throw new ArgumentOutOfRangeException(nameof(rank), rank, $"The SVD rank must lie in [1, min(groups {groups}, codebook length {length})].");
        var sorted = new double[(long)groups * length];
        var newIndex = new int[(long)groups * entries]; // old entry -> new entry, per group
        var order = new int[entries];
        var keys = new double[entries];
        for (int g = 0; g < groups; g++)
        {
            for (int e = 0; e < entries; e++)
            {
                order[e] = e;
                keys[e] = codebooks[g * length + e * d];
            }
            Array.Sort(order, (a, b) => keys[a] != keys[b] ? keys[a].CompareTo(keys[b]) : a.CompareTo(b));
            for (int position = 0; position < entries; position++)
            {
                int e = order[position];
                newIndex[g * entries + e] = position;
                for (int j = 0; j < d; j++)
                    sorted[(long)g * length + position * d + j] = codebooks[g * length + e * d + j];
            }
        }
        for (int row = 0; row < layout.Rows; row++)
        {
            for (int v = 0; v < layout.VectorsPerRow; v++)
            {
                long i = (long)row * layout.VectorsPerRow + v;
                codes[(int)i] = newIndex[layout.GroupOf(row, v * d) * entries + codes[(int)i]];
            }
        }

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor c = tensor(sorted, [groups, length], ScalarType.Float64);
        var (u, s, vh) = linalg.svd(c, fullMatrices: false);
        Tensor left = u.narrow(1, 0, rank).mul(s.narrow(0, 0, rank).unsqueeze(0)).contiguous(); // [G, r]
        Tensor right = vh.narrow(0, 0, rank).contiguous(); // [r, L]
        double[] leftValues = left.data<double>().ToArray();
        double[] rightValues = right.data<double>().ToArray();
        var uHalf = new Half[leftValues.Length];
        var vHalf = new Half[rightValues.Length];
        for (int i = 0; i < uHalf.Length; i++)
            uHalf[i] = ToFp16(leftValues[i]);
        for (int i = 0; i < vHalf.Length; i++)
            vHalf[i] = ToFp16(rightValues[i]);
        return new CodebookStore(groups, length, null, null, null, uHalf, vHalf, rank);
    }

    /// <summary><paramref name="value"/> as FP16, which must not overflow: a stored codebook is never infinite.</summary>
    /// <exception cref="ArgumentException">It is beyond FP16's range.</exception>
    private static Half ToFp16(double value)
    {
        var half = (Half)value;
        if (Half.IsInfinity(half))
            throw new ArgumentException($"A codebook value of {value:G4} is beyond the range of FP16 (±65504), in which codebooks are stored; weights this large cannot be vector-quantized.");
        return half;
    }
}
