using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;

namespace RwkvQuant.Models;

/// <summary>
/// Writes an <see cref="RwkvModel"/> as an rwkv.cpp model file (version 101), redoing the converter's transforms
/// exactly as <c>convert_pytorch_to_ggml.py</c> does, so that rwkv.cpp and <see cref="GgmlModelLoader"/> read it.
/// </summary>
public static class GgmlModelWriter
{
    /// <summary>The file version written.</summary>
    public const int FileVersion = GgmlHeader.CurrentFileVersion;

    /// <summary>Substrings of names the converter keeps in FP32 even in FP16 files (besides all 1-D tensors).</summary>
    private static readonly string[] KeptInFloat32 = [".time_", ".k_k", ".k_a", ".r_k", ".x_rwkvag", ".x_k", ".w0", ".a0", ".v0"];

    /// <summary>
    /// Writes <paramref name="model"/> to <paramref name="path"/> as <paramref name="type"/> (<see cref="GgmlType.F32"/> or
    /// <see cref="GgmlType.F16"/>). In FP16 files, 1-D tensors and the small per-channel tensors stay FP32, as the
    /// converter keeps them (<c>.time_*</c>; v7 <c>k_k, k_a, r_k, x_rwkvag, x_k, w0, a0, v0</c>). The file is
    /// written atomically (a temporary file renamed over the target).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="type"/> is not F32 or F16.</exception>
    public static void Write(RwkvModel model, string path, GgmlType type = GgmlType.F32)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        ValidateType(type);
        AtomicFile.Write(path, stream => Write(model, stream, type));
    }

    /// <summary>Writes to a stream (see <see cref="Write(RwkvModel, string, GgmlType)"/>).</summary>
    public static void Write(RwkvModel model, Stream stream, GgmlType type = GgmlType.F32)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(stream);
        ValidateType(type);
        RwkvConfig config = model.Config;
        var word = new byte[4];

        void WriteInt32(int value)
        {
            BinaryPrimitives.WriteInt32LittleEndian(word, value);
            stream.Write(word);
        }

        WriteInt32(GgmlHeader.Magic);
        WriteInt32(FileVersion);
        WriteInt32(config.VocabularySize);
        WriteInt32(config.EmbeddingSize);
        WriteInt32(config.LayerCount);
        WriteInt32((int)type);

        foreach (TensorData tensor in GgmlConverterTransforms.ToStored(model))
        {
            bool half = type == GgmlType.F16 && tensor.Shape.Count > 1 &&
                        !KeptInFloat32.Any(s => tensor.Name.Contains(s, StringComparison.Ordinal));
            byte[] key = Encoding.UTF8.GetBytes(tensor.Name);
            WriteInt32(tensor.Shape.Count);
            WriteInt32(key.Length);
            WriteInt32((int)(half ? GgmlType.F16 : GgmlType.F32));
            for (int i = tensor.Shape.Count - 1; i >= 0; i--)
                WriteInt32(checked((int)tensor.Shape[i])); // ggml order: innermost first
            stream.Write(key);
            float[] values = tensor.ToFloatArray();
            if (half)
            {
                var halves = new Half[values.Length];
                for (int i = 0; i < values.Length; i++)
                    halves[i] = (Half)values[i]; // round to nearest even, as torch's .half()
                stream.Write(MemoryMarshal.AsBytes(halves.AsSpan()));
            }
            else
            {
                stream.Write(MemoryMarshal.AsBytes(values.AsSpan()));
            }
        }
    }

    private static void ValidateType(GgmlType type)
    {
        if (type is not (GgmlType.F32 or GgmlType.F16))
            throw new ArgumentException($"Only F32 and F16 files can be written here, not {type}.", nameof(type));
    }
}
