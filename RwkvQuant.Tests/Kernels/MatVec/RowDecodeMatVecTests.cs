using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Tests.Kernels.MatVec;

/// <summary>The portable row-decoding product of every packed layout against the naive reference, one to three vectors.</summary>
public class RowDecodeMatVecTests
{
    public static TheoryData<int, int, int, int, bool, int, bool> GroupScalarCases()
    {
        TheoryData<int, int, int, int, bool, int, bool> data = BitPlaneMatVecTests.Cases();
        data.Add(11, 70, 3, 20, false, (int)ScaleFormat.F16, true); // groups of 20: no bit-plane kernel takes them
        data.Add(9, 45, 5, 7, true, (int)ScaleFormat.BF16, false);
        return data;
    }

    [Theory]
    [MemberData(nameof(GroupScalarCases))]
    public void Group_scalar_rows_equal_the_reference(int rows, int columns, int bits, int groupSize, bool symmetric, int format, bool permuted)
    {
        PackedGroupScalar w = PackedTestData.GroupScalar(rows, columns, bits, groupSize, symmetric, (ScaleFormat)format, permuted, seed: rows + bits);
        AssertEqualsReference(w.Rows, w.Columns, PackedReference.Dequantize(w), (x, y, n) => RowDecodeMatVec.MatVec(w, x, y, n),
            (x, y, n) => PackedReference.MatVec(w, x, y, n), seed: bits);
    }

    [Theory]
    [MemberData(nameof(VectorCodesMatVecTests.Cases), MemberType = typeof(VectorCodesMatVecTests))]
    public void Vector_code_rows_equal_the_reference(int rows, int columns, int dimension, int bits, int groupRows, int groupColumns, int format)
    {
        PackedVectorCodes w = PackedTestData.VectorCodes(rows, columns, dimension, bits, groupRows, groupColumns, (CodebookFormat)format, seed: rows + bits);
        AssertEqualsReference(w.Rows, w.Columns, PackedReference.Dequantize(w), (x, y, n) => RowDecodeMatVec.MatVec(w, x, y, n),
            (x, y, n) => PackedReference.MatVec(w, x, y, n), seed: dimension);
    }

    [Theory]
    [InlineData((int)GgmlBlockType.Q4_0)]
    [InlineData((int)GgmlBlockType.Q4_1)]
    [InlineData((int)GgmlBlockType.Q5_0)]
    [InlineData((int)GgmlBlockType.Q5_1)]
    [InlineData((int)GgmlBlockType.Q8_0)]
    public void Ggml_block_rows_equal_the_reference(int type)
    {
        foreach ((int rows, int columns) in new[] { (1, 32), (7, 96), (640, 544) }) // the last splits across threads
        {
            PackedGgmlBlocks w = PackedTestData.GgmlBlocks((GgmlBlockType)type, rows, columns, seed: rows);
            AssertEqualsReference(w.Rows, w.Columns, PackedReference.Dequantize(w), (x, y, n) => RowDecodeMatVec.MatVec(w, x, y, n),
                (x, y, n) => PackedReference.MatVec(w, x, y, n), seed: type);
        }
    }

    [Fact]
    public void Shapes_are_checked()
    {
        PackedGroupScalar w = PackedTestData.GroupScalar(3, 16, 3, 8, false, ScaleFormat.F16, false, seed: 1);
        Assert.Throws<ArgumentException>(() => RowDecodeMatVec.MatVec(w, new float[15], new float[3], 1));
        Assert.Throws<ArgumentException>(() => RowDecodeMatVec.MatVec(w, new float[32], new float[3], 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => RowDecodeMatVec.MatVec(w, new float[16], new float[3], 0));
    }

    private delegate void Product(ReadOnlySpan<float> x, Span<float> y, int vectors);

    /// <summary>The product equals the float64 reference within float rounding of Σ|w·x| (1, then 3 vectors).</summary>
    private static void AssertEqualsReference(int rows, int columns, float[] weights, Product product, Product reference, int seed)
    {
        var random = new Random(seed);
        foreach (int vectors in new[] { 1, 3 })
        {
            float[] x = Enumerable.Range(0, vectors * columns).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            float[] actual = new float[vectors * rows], expected = new float[vectors * rows];
            product(x, actual, vectors);
            reference(x, expected, vectors);
            for (int n = 0; n < vectors; n++)
            {
                for (int r = 0; r < rows; r++)
                {
                    double magnitude = 0;
                    for (int k = 0; k < columns; k++)
                        magnitude += Math.Abs((double)weights[(long)r * columns + k] * x[n * columns + k]);
                    int i = n * rows + r;
                    Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-5 * magnitude + 1e-6,
                        $"vector {n} row {r} of [{rows}, {columns}]: {actual[i]} vs reference {expected[i]}");
                }
            }
        }
    }
}
