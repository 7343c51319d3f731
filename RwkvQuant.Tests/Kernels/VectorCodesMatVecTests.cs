using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Tests.Kernels;

public class VectorCodesMatVecTests
{
    public static TheoryData<int, int, int, int, int, int, int> Cases() => new()
    {
        // rows, columns, d, bits, group rows, group columns, codebook format
        { 37, 131, 1, 3, 2, 32, (int)CodebookFormat.Int8Scaled },
        { 37, 130, 2, 3, 4, 32, (int)CodebookFormat.F16 },
        { 37, 132, 4, 2, 3, 16, (int)CodebookFormat.F32 },
        { 5, 77, 1, 4, 2, 48, (int)CodebookFormat.Int8Scaled },
        { 5, 76, 4, 3, 1, 32, (int)CodebookFormat.Int8Scaled },
        { 9, 200, 1, 5, 5, 64, (int)CodebookFormat.F16 },
        { 9, 200, 2, 4, 5, 64, (int)CodebookFormat.F32 },
        { 9, 200, 2, 8, 3, 40, (int)CodebookFormat.Int8Scaled },
        { 9, 204, 4, 6, 2, 12, (int)CodebookFormat.F16 },
        { 6, 99, 1, 12, 6, 99, (int)CodebookFormat.F32 },
        { 64, 256, 1, 3, 2, 32, (int)CodebookFormat.Int8Scaled },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Fast_paths_equal_the_reference(int rows, int columns, int dimension, int bits, int groupRows, int groupColumns, int format)
    {
        PackedVectorCodes w = PackedTestData.VectorCodes(rows, columns, dimension, bits, groupRows, groupColumns, (CodebookFormat)format, seed: rows + bits);
        float[] weights = PackedReference.Dequantize(w);
        foreach (int vectors in new[] { 1, 2, 8, 9 })
        {
            float[] x = PackedTestData.Vectors(vectors, columns, seed: vectors);
            var expected = new float[vectors * rows];
            PackedReference.MatVec(w, x, expected, vectors);
            float[] scale = PackedTestData.AbsoluteProducts(weights, rows, columns, x, vectors);
            foreach (bool avx in new[] { true, false })
            {
                var actual = new float[vectors * rows];
                VectorCodesMatVec.MatVec(w, x, actual, vectors, avx);
                PackedTestData.AssertClose(expected, actual, scale, 1e-5, $"{(avx ? "AVX-512" : "scalar")} d{dimension} b{bits} n{vectors}");
            }
        }
    }

    [Fact]
    public void Reference_dequantization_looks_codes_up_in_their_groups_codebook()
    {
        // [2, 4], d = 2, 1-bit codes, groups of 1 row × 4 columns: two codebooks of 2 centroids × 2 values.
        int[] codes = [1, 0, 0, 1];
        float[] codebooks = [1, 2, 3, 4, /* group 1 */ 5, 6, 7, 8];
        var w = PackedVectorCodes.FromSingle(2, 4, 2, 1, 1, 4, RwkvQuant.Packing.BitPacking.Pack(codes, 1), codebooks);
        Assert.Equal([3f, 4, 1, 2, 5, 6, 7, 8], PackedReference.Dequantize(w));
    }
}
