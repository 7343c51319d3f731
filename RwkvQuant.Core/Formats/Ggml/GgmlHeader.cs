namespace RwkvQuant.Formats.Ggml;

/// <summary>The fixed header of an rwkv.cpp model file.</summary>
/// <param name="FileVersion">100 or 101 (101 introduced the current quantized block layouts).</param>
/// <param name="VocabularySize">n_vocab.</param>
/// <param name="EmbeddingSize">n_embed.</param>
/// <param name="LayerCount">n_layer.</param>
/// <param name="DataType">The file's nominal type (the type of its 2-D matrices).</param>
public sealed record GgmlHeader(int FileVersion, int VocabularySize, int EmbeddingSize, int LayerCount, GgmlType DataType)
{
    /// <summary>"ggmf" read as a little-endian int32.</summary>
    public const int Magic = 0x67676d66;

    /// <summary>The file version this library writes (rwkv.cpp's current one).</summary>
    public const int CurrentFileVersion = 101;

    /// <summary>Size of the header in bytes (six int32).</summary>
    public const int Size = 24;
}
