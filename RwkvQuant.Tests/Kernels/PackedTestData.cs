using System.Buffers.Binary;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.Packing;

namespace RwkvQuant.Tests.Kernels;

/// <summary>Random packed weights and vectors for the kernel tests (seeded).</summary>
internal static class PackedTestData
{
    public static float[] Vectors(int count, int columns, int seed)
    {
        var random = new Random(seed);
        var x = new float[count * columns];
        for (int i = 0; i < x.Length; i++)
            x[i] = (float)(random.NextDouble() * 2 - 1);
        return x;
    }

    /// <summary>A random group-scalar layout: codes uniform, scales in [0.01, 1], zeros in [0, 2^b − 1].</summary>
    public static PackedGroupScalar GroupScalar(int rows, int columns, int bits, int groupSize, bool symmetric, ScaleFormat format,
        bool permuted, int seed)
    {
        var random = new Random(seed);
        var codes = new int[rows * columns];
        for (int i = 0; i < codes.Length; i++)
            codes[i] = random.Next(1 << bits);
        int groups = rows * ((columns + groupSize - 1) / groupSize);
        byte[] scales = Encode(groups, format, () => 0.01 + random.NextDouble());
        byte[] zeros = symmetric ? [] : Encode(groups, format, () => random.NextDouble() * ((1 << bits) - 1));
        int[] permutation = permuted ? [.. Enumerable.Range(0, columns).OrderBy(_ => random.Next())] : [];
        return PackedGroupScalar.FromDense(rows, columns, bits, groupSize, symmetric, format, BitPacking.Pack(codes, bits), scales, zeros, permutation);
    }

    /// <summary>A random VQ layout; <paramref name="format"/> picks int8 + scale, FP16 or float32 codebooks.</summary>
    public static PackedVectorCodes VectorCodes(int rows, int columns, int dimension, int bits, int groupRows, int groupColumns,
        CodebookFormat format, int seed)
    {
        var random = new Random(seed);
        var codes = new int[rows * (columns / dimension)];
        for (int i = 0; i < codes.Length; i++)
            codes[i] = random.Next(1 << bits);
        byte[] packed = BitPacking.Pack(codes, bits);
        int groups = (rows + groupRows - 1) / groupRows * ((columns + groupColumns - 1) / groupColumns);
        int length = (1 << bits) * dimension;
        switch (format)
        {
            case CodebookFormat.Int8Scaled:
                var int8 = new sbyte[groups * length];
                for (int i = 0; i < int8.Length; i++)
                    int8[i] = (sbyte)random.Next(-127, 128);
                var scales = new ushort[groups];
                for (int g = 0; g < groups; g++)
                    scales[g] = BitConverter.HalfToUInt16Bits((Half)(random.NextDouble() * 0.02));
                return PackedVectorCodes.FromInt8(rows, columns, dimension, bits, groupRows, groupColumns, packed, int8, scales);
            case CodebookFormat.F16:
                var halves = new ushort[groups * length];
                for (int i = 0; i < halves.Length; i++)
                    halves[i] = BitConverter.HalfToUInt16Bits((Half)(random.NextDouble() * 2 - 1));
                return PackedVectorCodes.FromHalf(rows, columns, dimension, bits, groupRows, groupColumns, packed, halves);
            default:
                var floats = new float[groups * length];
                for (int i = 0; i < floats.Length; i++)
                    floats[i] = (float)(random.NextDouble() * 2 - 1);
                return PackedVectorCodes.FromSingle(rows, columns, dimension, bits, groupRows, groupColumns, packed, floats);
        }
    }

    /// <summary>Random ggml blocks: random code bytes, FP16 scales (and minimums) of moderate size.</summary>
    public static PackedGgmlBlocks GgmlBlocks(GgmlBlockType type, int rows, int columns, int seed)
    {
        var random = new Random(seed);
        int blockBytes = PackedGgmlBlocks.BytesPerBlock(type);
        var bytes = new byte[rows * (columns / 32) * blockBytes];
        random.NextBytes(bytes);
        for (int b = 0; b < bytes.Length; b += blockBytes)
        {
            BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(b), (Half)(random.NextDouble() * 0.1));
            if (type is GgmlBlockType.Q4_1 or GgmlBlockType.Q5_1)
                BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(b + 2), (Half)(random.NextDouble() - 0.5));
        }
        return PackedGgmlBlocks.FromBlocks(type, rows, columns, bytes);
    }

    /// <summary>Random k-quant blocks (every byte pattern is a valid block) with FP16 super-block scales in [0, 0.01) and minimums in [0, 0.05).</summary>
    public static PackedKQuantBlocks KQuantBlocks(KQuantType type, int rows, int columns, int seed)
    {
        var random = new Random(seed);
        int blockBytes = type.BytesPerBlock();
        var bytes = new byte[rows * (columns / type.ValuesPerBlock()) * blockBytes];
        random.NextBytes(bytes);
        (int d, int dmin) = type switch
        {
            KQuantType.Q2_K => (80, 82),
            KQuantType.Q3_K => (108, -1),
            KQuantType.Q4_K => (0, 2),
            _ => (0, -1),
        };
        for (int b = 0; b < bytes.Length; b += blockBytes)
        {
            BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(b + d), (Half)(random.NextDouble() * 0.01));
            if (dmin >= 0)
                BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(b + dmin), (Half)(random.NextDouble() * 0.05));
        }
        return PackedKQuantBlocks.FromBlocks(type, rows, columns, bytes);
    }

    private static byte[] Encode(int count, ScaleFormat format, Func<double> next)
    {
        int size = format == ScaleFormat.F32 ? 4 : 2;
        var bytes = new byte[count * size];
        for (int i = 0; i < count; i++)
        {
            float value = (float)next();
            Span<byte> slot = bytes.AsSpan(i * size, size);
            switch (format)
            {
                case ScaleFormat.F32:
                    BinaryPrimitives.WriteSingleLittleEndian(slot, value);
                    break;
                case ScaleFormat.F16:
                    BinaryPrimitives.WriteHalfLittleEndian(slot, (Half)value);
                    break;
                default:
                    BinaryPrimitives.WriteUInt16LittleEndian(slot, (ushort)(BitConverter.SingleToUInt32Bits(value) >> 16));
                    break;
            }
        }
        return bytes;
    }

    /// <summary>Asserts |actual − expected| ≤ tolerance·(scale[i] + 1e-3) elementwise, naming the first miss.</summary>
    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, ReadOnlySpan<float> scale, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double allowed = tolerance * (scale[i] + 1e-3);
            if (!(Math.Abs(expected[i] - actual[i]) <= allowed))
                Assert.Fail($"{what}: element {i} is {actual[i]}, expected {expected[i]} (allowed error {allowed}).");
        }
    }

    /// <summary>
    /// The error scale of products that sum codes before scaling (q·x, then s·(Σ − z·X)): Σ|w||x| + <paramref name="codeRange"/>·Σ|x|
    /// per output.
    /// </summary>
    public static float[] CodeSumBound(float[] absoluteProducts, int rows, int columns, float[] x, float codeRange)
    {
        var bound = new float[absoluteProducts.Length];
        for (int i = 0; i < bound.Length; i++)
        {
            int n = i / rows;
            float sum = 0;
            for (int k = 0; k < columns; k++)
                sum += Math.Abs(x[n * columns + k]);
            bound[i] = absoluteProducts[i] + codeRange * sum;
        }
        return bound;
    }

    /// <summary>Σ_k |W[r, k]|·|x[n, k]| per output, the natural scale of a product's rounding error.</summary>
    public static float[] AbsoluteProducts(float[] weights, int rows, int columns, float[] x, int vectors)
    {
        var abs = new float[vectors * rows];
        for (int n = 0; n < vectors; n++)
            for (int r = 0; r < rows; r++)
            {
                double sum = 0;
                for (int k = 0; k < columns; k++)
                    sum += Math.Abs(weights[(long)r * columns + k]) * Math.Abs(x[n * columns + k]);
                abs[n * rows + r] = (float)sum;
            }
        return abs;
    }
}
