using System.Runtime.InteropServices;

namespace RwkvQuant.Formats.Ggml;

/// <summary>Reference conversions between ggml storage and float32.</summary>
internal static class GgmlBlocks
{
    /// <summary>Converts stored data of <paramref name="type"/> to float32 values.</summary>
    public static void Dequantize(GgmlType type, ReadOnlySpan<byte> source, Span<float> destination)
    {
        switch (type)
        {
            case GgmlType.F32:
                MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
                break;
            case GgmlType.F16:
                ReadOnlySpan<Half> halves = MemoryMarshal.Cast<byte, Half>(source);
                for (int i = 0; i < destination.Length; i++)
                    destination[i] = (float)halves[i];
                break;
            default:
                throw new NotSupportedException($"Dequantizing {type} is not implemented yet.");
        }
    }
}
