using RwkvQuant.Packing;

namespace RwkvQuant.Tests.Packing;

public class BitPackingTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 7)]
    [InlineData(3, 1001)]
    [InlineData(4, 33)]
    [InlineData(5, 97)]
    [InlineData(7, 13)]
    [InlineData(8, 64)]
    [InlineData(11, 257)]
    [InlineData(16, 5)]
    public void Pack_then_unpack_is_exact_and_takes_ceil_n_b_over_8_bytes(int bits, int count)
    {
        var random = new Random(bits * 1000 + count);
        int[] codes = Enumerable.Range(0, count).Select(_ => random.Next(1 << bits)).ToArray();
        byte[] packed = BitPacking.Pack(codes, bits);
        Assert.Equal((count * bits + 7) / 8, packed.Length);
        Assert.Equal(codes, BitPacking.Unpack(packed, bits, count));
    }

    [Fact]
    public void Three_bit_codes_are_laid_out_lsb_first()
    {
        // codes 5 (101), 3 (011), 7 (111): stream bits 0-2 = 101, 3-5 = 011, 6-8 = 111
        // byte 0 = bits 7..0 = 1 1 0 1 1 1 0 1 = 0b11011101, byte 1 = bit 8 = 1
        Assert.Equal(new byte[] { 0b1101_1101, 0b0000_0001 }, BitPacking.Pack([5, 3, 7], 3));
    }

    [Fact]
    public void A_code_that_does_not_fit_is_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => BitPacking.Pack([8], 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => BitPacking.Pack([-1], 3));
    }

    [Fact]
    public void Unpacking_from_too_few_bytes_is_rejected()
    {
        Assert.Throws<ArgumentException>(() => BitPacking.Unpack(new byte[1], 3, 3));
    }
}
