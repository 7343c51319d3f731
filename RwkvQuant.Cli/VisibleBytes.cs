using System.Text;

namespace RwkvQuant.Cli;

/// <summary>
/// Decoding that shows bytes which are not valid text as <c>\xNN</c> instead of dropping them into U+FFFD: a barely
/// trained byte-level model emits such bytes, and a user should see them rather than a row of identical diamonds.
/// </summary>
internal sealed class VisibleBytes : DecoderFallback
{
    private VisibleBytes()
    {
    }

    /// <summary>The longest replacement: four bytes of a broken UTF-8 sequence, four characters each.</summary>
    public override int MaxCharCount => 16;

    /// <summary><paramref name="encoding"/> with its invalid bytes shown as <c>\xNN</c>.</summary>
    public static Encoding Showing(Encoding encoding)
    {
        ArgumentNullException.ThrowIfNull(encoding);
        var copy = (Encoding)encoding.Clone();
        copy.DecoderFallback = new VisibleBytes();
        return copy;
    }

    public override DecoderFallbackBuffer CreateFallbackBuffer() => new Buffer();

    private sealed class Buffer : DecoderFallbackBuffer
    {
        private string _text = "";
        private int _index;

        public override int Remaining => _text.Length - _index;

        public override bool Fallback(byte[] bytesUnknown, int index)
        {
            _text = string.Concat(bytesUnknown.Select(b => $"\\x{b:X2}"));
            _index = 0;
            return true;
        }

        public override char GetNextChar() => _index < _text.Length ? _text[_index++] : '\0';

        public override bool MovePrevious()
        {
            if (_index == 0)
                return false;
            _index--;
            return true;
        }

        public override void Reset()
        {
            _text = "";
            _index = 0;
        }
    }
}
