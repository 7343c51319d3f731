using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace RwkvQuant.Tests.Scalar.KQuants;

/// <summary>
/// ggml's own outputs for deterministic inputs (Data/kquants-ggml.bin, written by tools/ggml-kquant-vectors/gen.c linked
/// against ggml's ggml-quants.c, built with -ffp-contract=off): for each of six cases (Gaussian; Gaussian with 1%
/// outliers ×25; zero and 1e-6-scaled sub-blocks; all positive; values on a 1/2048 grid; every third group of 32 all
/// zero) a [rows, columns] matrix and a per-column importance, and for each format (Q2_K, Q3_K, Q4_K, IQ4_XS, IQ4_NL,
/// Q5_0, IQ3_S) the bytes of <c>quantize_*</c> without and with the importance and what ggml's <c>dequantize_row_*</c>
/// makes of them.
/// </summary>
internal sealed class GgmlKQuantVectors
{
    public required int Rows { get; init; }
    public required int Columns { get; init; }
    public required IReadOnlyList<Format> Formats { get; init; }
    public required IReadOnlyList<Case> Cases { get; init; }

    /// <summary>One format: ggml's type code, values and bytes per block.</summary>
    public sealed record Format(int GgmlCode, int BlockValues, int BlockBytes);

    /// <summary>One output: the blocks and their dequantization.</summary>
    public sealed record Output(byte[] Blocks, float[] Dequantized);

    /// <summary>One input matrix and importance with, per format, the outputs without [0] and with [1] the importance.</summary>
    public sealed record Case(float[] Values, float[] Importance, Output[][] Outputs);

    public static GgmlKQuantVectors Load()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Scalar", "KQuants", "Data", "kquants-ggml.bin");
        byte[] bytes = File.ReadAllBytes(path);
        int offset = 0;
        if (System.Text.Encoding.ASCII.GetString(bytes, 0, 4) != "KQV1")
            throw new InvalidDataException($"'{path}' is not a k-quant vector file.");
        offset = 4;
        int cases = Int(), formats = Int(), rows = Int(), columns = Int();
        var formatList = new Format[formats];
        for (int t = 0; t < formats; t++)
            formatList[t] = new Format(Int(), Int(), Int());
        var caseList = new Case[cases];
        for (int c = 0; c < cases; c++)
        {
            float[] values = Floats(rows * columns), importance = Floats(columns);
            var outputs = new Output[formats][];
            for (int t = 0; t < formats; t++)
            {
                outputs[t] = new Output[2];
                for (int w = 0; w < 2; w++)
                {
                    int size = rows * columns / formatList[t].BlockValues * formatList[t].BlockBytes;
                    byte[] blocks = bytes.AsSpan(offset, size).ToArray();
                    offset += size;
                    outputs[t][w] = new Output(blocks, Floats(rows * columns));
                }
            }
            caseList[c] = new Case(values, importance, outputs);
        }
        if (offset != bytes.Length)
            throw new InvalidDataException($"'{path}' has {bytes.Length - offset} bytes after its last case.");
        return new GgmlKQuantVectors { Rows = rows, Columns = columns, Formats = formatList, Cases = caseList };

        int Int()
        {
            int value = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(offset, 4));
            offset += 4;
            return value;
        }

        float[] Floats(int count)
        {
            float[] result = MemoryMarshal.Cast<byte, float>(bytes.AsSpan(offset, count * 4)).ToArray();
            offset += count * 4;
            return result;
        }
    }
}
