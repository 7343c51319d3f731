using RwkvQuant.Formats.Ggml;
using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.Scalar.Ggml;
using RwkvQuant.Scalar.KQuants;

namespace RwkvQuant.Tests.Scalar.KQuants;

/// <summary>Byte-exact agreement with ggml's own k-quant quantizers and dequantizers, on ggml's outputs (<see cref="GgmlKQuantVectors"/>).</summary>
public class KQuantBlockQuantizerTests
{
    private static readonly Lazy<GgmlKQuantVectors> Vectors = new(GgmlKQuantVectors.Load);

    private static readonly Dictionary<int, KQuantType> ByGgmlCode = Enum.GetValues<KQuantType>().ToDictionary(t => t.GgmlCode());

    /// <summary>(format index, case, with importance) for every k-quant format of the file.</summary>
    public static TheoryData<int, int, bool> KQuantOutputs()
    {
        var data = new TheoryData<int, int, bool>();
        GgmlKQuantVectors v = Vectors.Value;
        for (int t = 0; t < v.Formats.Count; t++)
        {
            for (int c = 0; c < v.Cases.Count; c++)
            {
                data.Add(t, c, false);
                data.Add(t, c, true);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(KQuantOutputs))]
    public void Quantized_blocks_are_ggmls_bytes(int format, int caseIndex, bool withImportance)
    {
        GgmlKQuantVectors v = Vectors.Value;
        GgmlKQuantVectors.Format f = v.Formats[format];
        GgmlKQuantVectors.Case c = v.Cases[caseIndex];
        byte[] expected = c.Outputs[format][withImportance ? 1 : 0].Blocks;
        var actual = new byte[expected.Length];
        int rowBytes = v.Columns / f.BlockValues * f.BlockBytes;
        for (int r = 0; r < v.Rows; r++)
        {
            ReadOnlySpan<float> row = c.Values.AsSpan(r * v.Columns, v.Columns);
            Span<byte> destination = actual.AsSpan(r * rowBytes, rowBytes);
            ReadOnlySpan<float> importance = withImportance ? c.Importance : default;
            if (ByGgmlCode.TryGetValue(f.GgmlCode, out KQuantType type))
                KQuantBlockQuantizer.QuantizeRow(type, row, importance, destination);
            else if (withImportance) // Q5_0 (ggml code 6), llama.cpp's Q4_K fallback
                KQuantBlockQuantizer.QuantizeQ5_0Row(row, importance, destination);
            else
                GgmlBlockQuantizer.Quantize(GgmlType.Q5_0, row, destination);
        }
        int firstDifference = actual.AsSpan().CommonPrefixLength(expected);
        Assert.True(firstDifference == expected.Length,
            $"ggml type {f.GgmlCode}, case {caseIndex}, importance {withImportance}: first different byte {firstDifference} " +
            $"(block {firstDifference / f.BlockBytes}, byte {firstDifference % f.BlockBytes}) of {expected.Length}.");
    }

    [Theory]
    [MemberData(nameof(KQuantOutputs))]
    public void Dequantized_blocks_are_ggmls_floats(int format, int caseIndex, bool withImportance)
    {
        GgmlKQuantVectors v = Vectors.Value;
        GgmlKQuantVectors.Format f = v.Formats[format];
        GgmlKQuantVectors.Output output = v.Cases[caseIndex].Outputs[format][withImportance ? 1 : 0];
        float[] actual;
        if (ByGgmlCode.TryGetValue(f.GgmlCode, out KQuantType type))
            actual = PackedReference.Dequantize(PackedKQuantBlocks.FromBlocks(type, v.Rows, v.Columns, output.Blocks));
        else
            actual = PackedReference.Dequantize(PackedGgmlBlocks.FromBlocks(GgmlBlockType.Q5_0, v.Rows, v.Columns, output.Blocks));
        for (int i = 0; i < actual.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(actual[i]) != BitConverter.SingleToInt32Bits(output.Dequantized[i]))
                Assert.Fail($"ggml type {f.GgmlCode}, case {caseIndex}: value {i} is {actual[i]:R}, ggml's {output.Dequantized[i]:R}.");
        }
    }
}
