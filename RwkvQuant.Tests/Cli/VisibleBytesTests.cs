using System.Text;
using RwkvQuant.Cli;

namespace RwkvQuant.Tests.Cli;

public class VisibleBytesTests
{
    [Fact]
    public void Invalid_utf8_bytes_are_shown_as_escapes_and_valid_text_is_untouched()
    {
        Encoding utf8 = VisibleBytes.Showing(Encoding.UTF8);
        Assert.Equal("A\\xFFB", utf8.GetString([0x41, 0xFF, 0x42]));
        Assert.Equal("é", utf8.GetString([0xC3, 0xA9]));
        Assert.Equal("\\xC3x", utf8.GetString([0xC3, (byte)'x']));            // a sequence cut short
        Assert.Equal("\uFFFD", Encoding.UTF8.GetString([0xFF]));              // the original encoding is not changed
    }

    [Fact]
    public void A_decoder_fed_byte_by_byte_joins_split_characters_and_escapes_broken_ones()
    {
        Decoder decoder = VisibleBytes.Showing(Encoding.UTF8).GetDecoder();
        var text = new StringBuilder();
        foreach (byte b in new byte[] { 0xC3, 0xA9, 0x80, 0x41 })
        {
            var chars = new char[decoder.GetCharCount([b], flush: false)];
            text.Append(chars, 0, decoder.GetChars([b], chars, flush: false));
        }
        Assert.Equal("é\\x80A", text.ToString());
    }
}
