using System.Text;
using RwkvQuant.Calibration;

namespace RwkvQuant.Training;

/// <summary>
/// The UTF-8 bytes of a list of documents joined by <see cref="CalibrationData.DocumentSeparator"/>, cut into windows of
/// T + 1 bytes (inputs and next-byte targets). Training windows start at positions drawn from a seed and the step
/// number alone, so a resumed run draws the same windows as an uninterrupted one.
/// </summary>
internal sealed class ByteWindows
{
    private readonly byte[] _bytes;

    public ByteWindows(IReadOnlyList<string> documents, int contextLength, string name)
    {
        ArgumentNullException.ThrowIfNull(documents);
        _bytes = Encoding.UTF8.GetBytes(string.Join(CalibrationData.DocumentSeparator, documents));
        ContextLength = contextLength;
        if (_bytes.Length < contextLength + 1)
            throw new ArgumentException($"The {name} text has {_bytes.Length} bytes; one window of context {contextLength} needs {contextLength + 1}.", nameof(documents));
    }

    public int ContextLength { get; }

    public long ByteCount => _bytes.Length;

    /// <summary>The training windows of 1-based <paramref name="step"/>: int64 <c>[batch, T + 1]</c> values.</summary>
    public long[] TrainingBatch(long seed, int step, int batch)
    {
        var random = new Random(StepSeed(seed, step));
        var starts = new long[batch];
        for (int i = 0; i < batch; i++)
            starts[i] = random.NextInt64(_bytes.Length - ContextLength);
        return Gather(starts);
    }

    /// <summary><paramref name="count"/> windows spread evenly over the text (the validation set), batch by batch.</summary>
    public IEnumerable<(long[] Values, int Count)> EvenBatches(int count, int batch)
    {
        long span = _bytes.Length - ContextLength - 1;
        var starts = Enumerable.Range(0, count).Select(i => count == 1 ? 0 : span * i / (count - 1)).ToArray();
        for (int first = 0; first < count; first += batch)
        {
            long[] part = starts.Skip(first).Take(batch).ToArray();
            yield return (Gather(part), part.Length);
        }
    }

    private long[] Gather(long[] starts)
    {
        int width = ContextLength + 1;
        var values = new long[starts.Length * width];
        for (int i = 0; i < starts.Length; i++)
        {
            for (int t = 0; t < width; t++)
                values[i * width + t] = _bytes[starts[i] + t];
        }
        return values;
    }

    /// <summary>A 32-bit seed from (seed, step) by SplitMix64, stable across runtimes (unlike string or HashCode hashes).</summary>
    private static int StepSeed(long seed, int step)
    {
        ulong z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)step + 0x632BE59BD9B4E019UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        z ^= z >> 31;
        return unchecked((int)(z & 0x7FFFFFFF));
    }
}
