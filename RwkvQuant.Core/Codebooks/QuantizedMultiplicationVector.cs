using System.Globalization;
using RwkvQuant.Formats;
using RwkvQuant.Packing;
using RwkvQuant.Vector;

namespace RwkvQuant.Codebooks;

/// <summary>
/// A quantized element-wise multiplication vector μ of C channels (read flat, its original <see cref="Shape"/> kept).
/// The channels are cut into groups of <see cref="GroupSize"/> consecutive channels (the last group may be smaller);
/// each group has a codebook of 2^<see cref="Bits"/> scalar centroids stored as int8 with one FP16 scale
/// (centroid = scale · int8, the encoding of <see cref="CodebookPrecision.Int8WithScale"/>), and each channel stores
/// the <see cref="Bits"/>-bit index of its centroid, bit-packed (<see cref="BitPacking"/>) in channel order.
/// <para><see cref="StoredBits"/> = 8·⌈C·b / 8⌉ (the packed code bytes) + groups·(8·2^b + 16) (the codebooks);
/// with the defaults (b = 3, groups of 64) that is 3 + 80/64 = 4.25 bits per weight for C a multiple of 64.</para>
/// Immutable.
/// </summary>
public sealed class QuantizedMultiplicationVector
{
    private readonly byte[] _packedCodes;
    private readonly CodebookStore _codebooks;
    private readonly string _method;
    private readonly long[] _shape;

    internal QuantizedMultiplicationVector(string name, IReadOnlyList<long> shape, int groupSize, int bits, ReadOnlySpan<int> codes,
        CodebookStore codebooks, string method, IReadOnlyList<string> notes)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        _shape = [.. shape];
        long count = 1;
        foreach (long dimension in _shape)
            count *= dimension;
        if (count < 1 || count > int.MaxValue)
            throw new ArgumentException($"Vector '{name}' has {count} channels; 1 to {int.MaxValue} are supported.", nameof(shape));
        int groups = checked((int)((count + groupSize - 1) / groupSize));
        if (codes.Length != count)
            throw new ArgumentException($"Vector '{name}' needs {count} codes, got {codes.Length}.", nameof(codes));
        if (codebooks.Groups != groups || codebooks.Length != 1 << bits)
            throw new ArgumentException($"Vector '{name}' needs {groups} codebooks of {1 << bits} centroids, got {codebooks.Groups} of {codebooks.Length}.", nameof(codebooks));
        Name = name;
        Length = (int)count;
        GroupSize = groupSize;
        Bits = bits;
        _packedCodes = BitPacking.Pack(codes, bits);
        _codebooks = codebooks;
        _method = method;
        Notes = notes;
    }

    /// <summary>The vector's name (canonical model key).</summary>
    public string Name { get; }

    /// <summary>The original shape, e.g. <c>[1, 1, C]</c> or <c>[C]</c>.</summary>
    public IReadOnlyList<long> Shape => _shape;

    /// <summary>Number of channels C (the element count).</summary>
    public int Length { get; }

    /// <summary>Channels per codebook group (the last group may be smaller).</summary>
    public int GroupSize { get; }

    /// <summary>Bits b per code; each codebook holds 2^b centroids.</summary>
    public int Bits { get; }

    /// <summary>Number of codebooks, ⌈C / <see cref="GroupSize"/>⌉.</summary>
    public int CodebookCount => _codebooks.Groups;

    /// <summary>A short, stable description of the storage scheme, e.g. <c>"awkmeans b3 g64 int8+f16"</c>.</summary>
    public string Scheme => string.Create(CultureInfo.InvariantCulture, $"{_method} b{Bits} g{GroupSize} {_codebooks.Describe()}");

    /// <summary>Every stored bit: 8·⌈C·b / 8⌉ for the packed codes plus groups·(8·2^b + 16) for the codebooks.</summary>
    public long StoredBits => 8L * _packedCodes.Length + _codebooks.StoredBits;

    /// <summary><see cref="StoredBits"/> of a vector of <paramref name="length"/> channels with these settings, from the sizes alone.</summary>
    internal static long StoredBitsOf(int length, int bits, int groupSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        int groups = (length + groupSize - 1) / groupSize;
        return 8L * BitPacking.PackedLength(length, bits) + CodebookStore.StoredBitsOf(groups, 1 << bits, CodebookPrecision.Int8WithScale, svdRank: 0);
    }

    /// <summary>Stored bits per weight, <c>StoredBits / C</c>, overhead included.</summary>
    public double BitsPerWeight => (double)StoredBits / Length;

    /// <summary>What the optimizer had to adapt (e.g. no importance given); the notes do not repeat the name.</summary>
    public IReadOnlyList<string> Notes { get; }

    internal ReadOnlySpan<byte> PackedCodes => _packedCodes;

    /// <summary>The stored codebooks (for serialization).</summary>
    internal CodebookStore Codebooks => _codebooks;

    /// <summary>The method tag, e.g. <c>"awkmeans"</c> (for serialization).</summary>
    internal string Method => _method;

    /// <summary>The codes, unpacked: C values in [0, 2^b), channel order.</summary>
    public int[] GetCodes() => BitPacking.Unpack(_packedCodes, Bits, Length);

    /// <summary>The decoded codebooks <c>[groups, 2^b]</c> row-major, as dequantization uses them.</summary>
    public float[] GetCodebooks() => _codebooks.Decode();

    /// <summary>The reference dequantization: μ̂_j = codebook[j / G][code_j], C float32 values in channel order.</summary>
    public float[] Dequantize()
    {
        int[] codes = GetCodes();
        float[] codebooks = _codebooks.Decode();
        int entries = 1 << Bits;
        var values = new float[Length];
        for (int j = 0; j < values.Length; j++)
            values[j] = codebooks[j / GroupSize * entries + codes[j]];
        return values;
    }

    /// <summary>
    /// The output error Σ_j s_j (μ_j − μ̂_j)² of y = x ⊙ μ̂ against y = x ⊙ μ, with s_j = E[x_j²] per channel (empty:
    /// s_j = 1, the plain squared error), accumulated in float64.
    /// </summary>
    /// <param name="original">The vector μ that was quantized (C values).</param>
    /// <param name="importance">s_j (C values) or empty.</param>
    /// <exception cref="ArgumentException">A length differs from C.</exception>
    public double WeightedError(ReadOnlySpan<float> original, ReadOnlySpan<float> importance)
    {
        if (original.Length != Length || (!importance.IsEmpty && importance.Length != Length))
            throw new ArgumentException($"Vector '{Name}' has {Length} channels; got {original.Length} values and {importance.Length} importance values.", nameof(original));
        float[] quantized = Dequantize();
        double error = 0;
        for (int j = 0; j < Length; j++)
        {
            double difference = (double)original[j] - quantized[j];
            error += (importance.IsEmpty ? 1.0 : importance[j]) * difference * difference;
        }
        return error;
    }

    /// <summary>The dequantized vector as a float32 tensor named <see cref="Name"/> with its original <see cref="Shape"/>.</summary>
    public TensorData ToTensorData() => TensorData.FromFloats(Name, _shape, Dequantize());

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Name} [{string.Join(", ", _shape)}] {Scheme} {BitsPerWeight:F4} bpw");
}
