using RwkvQuant.Packing;
using RwkvQuant.Scalar;

namespace RwkvQuant.Tests.Scalar;

public class GroupScalarTensorTests
{
    [Fact]
    public void Three_bit_group_64_with_fp16_scale_and_zero_is_exactly_3_5_bits_per_weight()
    {
        GroupScalarTensor t = Make(rows: 8, columns: 256, bits: 3, groupSize: 64, symmetric: false, ScalePrecision.F16, seed: 1);
        Assert.Equal(8L * 256 * 3 + 8L * 4 * 32, t.StoredBits);
        Assert.Equal(3.5, t.BitsPerWeight);
    }

    [Theory]
    [InlineData(3, 64, false, ScalePrecision.F16)]
    [InlineData(2, 64, true, ScalePrecision.BF16)]
    [InlineData(5, 10, false, ScalePrecision.F32)]
    [InlineData(8, 131, true, ScalePrecision.F32)]
    [InlineData(4, 200, false, ScalePrecision.BF16)]
    public void Stored_bits_follow_the_formula_on_odd_shapes(int bits, int groupSize, bool symmetric, ScalePrecision precision)
    {
        const int Rows = 37, Columns = 131;
        GroupScalarTensor t = Make(Rows, Columns, bits, groupSize, symmetric, precision, seed: bits);
        int groupsPerRow = (Columns + groupSize - 1) / groupSize;
        int scaleBits = precision == ScalePrecision.F32 ? 32 : 16;
        long expected = (long)Rows * Columns * bits + (long)Rows * groupsPerRow * scaleBits * (symmetric ? 1 : 2);
        Assert.Equal(groupsPerRow, t.GroupsPerRow);
        Assert.Equal(expected, t.StoredBits);
        Assert.Equal((Rows * Columns * bits + 7) / 8, t.PackedCodes.Length);
    }

    [Fact]
    public void A_stored_permutation_costs_ceil_log2_columns_bits_per_column()
    {
        int[] permutation = Enumerable.Range(0, 131).Reverse().ToArray();
        GroupScalarTensor plain = Make(37, 131, 3, 64, false, ScalePrecision.F16, seed: 3);
        GroupScalarTensor permuted = Make(37, 131, 3, 64, false, ScalePrecision.F16, seed: 3, permutation);
        Assert.Equal(131L * 8, permuted.StoredBits - plain.StoredBits); // ⌈log₂ 131⌉ = 8
        Assert.Equal(permutation, permuted.GetColumnOrder());
        Assert.Equal(1, GroupScalarTensor.PermutationBits(2));
        Assert.Equal(7, GroupScalarTensor.PermutationBits(128));
        Assert.Equal(8, GroupScalarTensor.PermutationBits(129));
    }

    [Theory]
    [InlineData(ScalePrecision.F16)]
    [InlineData(ScalePrecision.BF16)]
    [InlineData(ScalePrecision.F32)]
    public void Pack_then_unpack_returns_the_codes_scales_and_zeros_bit_exactly(ScalePrecision precision)
    {
        var random = new Random(11);
        const int Rows = 5, Columns = 77, GroupSize = 16, Bits = 3;
        int[] codes = Enumerable.Range(0, Rows * Columns).Select(_ => random.Next(1 << Bits)).ToArray();
        float[] scales = Enumerable.Range(0, Rows * 5).Select(_ => StoredFloat.Ceiling(random.NextDouble(), precision)).ToArray();
        float[] zeros = Enumerable.Range(0, Rows * 5).Select(_ => StoredFloat.Floor(7 * random.NextDouble(), precision)).ToArray();
        var t = new GroupScalarTensor("t", Rows, Columns, "test", Bits, GroupSize, false, precision, codes, scales, zeros, null);
        Assert.Equal(codes, t.GetCodes());
        Assert.Equal(codes, BitPacking.Unpack(t.PackedCodes, Bits, codes.Length));
        for (int row = 0; row < Rows; row++)
        {
            for (int group = 0; group < 5; group++)
            {
                Assert.Equal(scales[row * 5 + group], t.GetScale(row, group));
                Assert.Equal(zeros[row * 5 + group], t.GetZero(row, group));
            }
        }
    }

    [Fact]
    public void Dequantize_is_scale_times_code_minus_zero_in_the_original_column_order()
    {
        // 1 row, 3 columns, groups of 2: storage columns (2, 0 | 1); group 0: s = 0.5, z = 1; group 1: s = 2, z = 0.5.
        var t = new GroupScalarTensor("t", 1, 3, "test", 2, 2, false, ScalePrecision.F32,
            [3, 0, 1], [0.5f, 2f], [1f, 0.5f], [2, 0, 1]);
        Assert.Equal([0.5f * (0 - 1), 2f * (1 - 0.5f), 0.5f * (3 - 1)], t.Dequantize());
        var symmetric = new GroupScalarTensor("s", 1, 3, "test", 2, 2, true, ScalePrecision.F32, [3, 0, 1], [0.5f, 2f], [], null);
        Assert.Equal([0.5f * (3 - 2), 0.5f * (0 - 2), 2f * (1 - 2)], symmetric.Dequantize());
        Assert.Equal(2f, symmetric.GetZero(0, 1));
    }

    [Fact]
    public void Bad_layouts_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => new GroupScalarTensor("t", 1, 3, "test", 2, 2, false, ScalePrecision.F32, [3, 0], [1f, 1f], [0f, 0f], null));
        Assert.Throws<ArgumentException>(() => new GroupScalarTensor("t", 1, 3, "test", 2, 2, false, ScalePrecision.F32, [3, 0, 1], [1f], [0f], null));
        Assert.Throws<ArgumentException>(() => new GroupScalarTensor("t", 1, 3, "test", 2, 2, false, ScalePrecision.F32, [3, 0, 1], [1f, 1f], [0f, 0f], [0, 0, 1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GroupScalarTensor("t", 1, 3, "test", 2, 2, false, ScalePrecision.F32, [4, 0, 1], [1f, 1f], [0f, 0f], null));
    }

    [Theory]
    [InlineData(ScalePrecision.F16)]
    [InlineData(ScalePrecision.BF16)]
    [InlineData(ScalePrecision.F32)]
    public void Stored_float_rounding_brackets_the_value_with_representable_neighbours(ScalePrecision precision)
    {
        var random = new Random(5);
        for (int i = 0; i < 1000; i++)
        {
            double value = Math.Exp(-10 + 15 * random.NextDouble());
            float up = StoredFloat.Ceiling(value, precision), down = StoredFloat.Floor(value, precision);
            Assert.True(down <= value && value <= up);
            Assert.True(down == up || StoredFloat.NextUp(down, precision) == up);
            Assert.Equal(up, StoredFloat.Decode(StoredFloat.Encode([up], precision), 0, precision));
        }
    }

    private static GroupScalarTensor Make(int rows, int columns, int bits, int groupSize, bool symmetric, ScalePrecision precision, int seed, int[]? permutation = null)
    {
        var random = new Random(seed);
        int groups = rows * ((columns + groupSize - 1) / groupSize);
        int[] codes = Enumerable.Range(0, rows * columns).Select(_ => random.Next(1 << bits)).ToArray();
        float[] scales = Enumerable.Range(0, groups).Select(_ => StoredFloat.Ceiling(random.NextDouble(), precision)).ToArray();
        float[] zeros = symmetric ? [] : Enumerable.Range(0, groups).Select(_ => StoredFloat.Floor(random.NextDouble() * ((1 << bits) - 1), precision)).ToArray();
        return new GroupScalarTensor("w", rows, columns, "test", bits, groupSize, symmetric, precision, codes, scales, zeros, permutation);
    }
}
