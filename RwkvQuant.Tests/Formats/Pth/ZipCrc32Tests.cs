using System.Text;
using RwkvQuant.Formats.Pth;

namespace RwkvQuant.Tests.Formats.Pth;

public class ZipCrc32Tests
{
    [Fact]
    public void Matches_the_standard_check_value()
    {
        Assert.Equal(0xCBF43926u, ZipCrc32.Compute(Encoding.ASCII.GetBytes("123456789")));
        Assert.Equal(0u, ZipCrc32.Compute([]));
    }

    [Fact]
    public void Sliced_computation_matches_the_bitwise_reference_on_odd_lengths()
    {
        var random = new Random(16);
        foreach (int length in new[] { 1, 7, 8, 9, 15, 17, 63, 1000, 4099 })
        {
            var data = new byte[length];
            random.NextBytes(data);
            Assert.Equal(Reference(data), ZipCrc32.Compute(data));
        }
    }

    /// <summary>One bit at a time, as the zip specification defines it.</summary>
    private static uint Reference(byte[] data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int bit = 0; bit < 8; bit++)
                crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }
}
