namespace RwkvQuant.Kernels.Packed;

/// <summary>
/// llama.cpp's super-block formats ("k-quants") and its non-linear 4-bit formats, byte for byte as ggml lays them out
/// (<c>ggml-common.h</c>). The values are not ggml's type codes (see <see cref="KQuantTypes.GgmlCode"/>).
/// </summary>
public enum KQuantType
{
    /// <summary>
    /// block_q2_K, 256 values in 84 bytes (2.625 bits): u8 scales[16] (low nibble a 4-bit scale, high nibble a 4-bit
    /// minimum per 16 values), u8 qs[64] (2-bit codes), fp16 d, fp16 dmin; x = d·sc·q − dmin·m.
    /// </summary>
    Q2_K,

    /// <summary>
    /// block_q3_K, 256 values in 110 bytes (3.4375 bits): u8 hmask[32] (third bit of each code), u8 qs[64] (low two bits),
    /// u8 scales[12] (sixteen 6-bit signed scales), fp16 d; x = d·(sc − 32)·(q − 4).
    /// </summary>
    Q3_K,

    /// <summary>
    /// block_q4_K, 256 values in 144 bytes (4.5 bits): fp16 d, fp16 dmin, u8 scales[12] (eight 6-bit scales and eight
    /// 6-bit minimums), u8 qs[128] (4-bit codes); x = d·sc·q − dmin·m.
    /// </summary>
    Q4_K,

    /// <summary>
    /// block_iq4_xs, 256 values in 136 bytes (4.25 bits): fp16 d, u16 scales_h, u8 scales_l[4] (eight 6-bit signed
    /// scales), u8 qs[128] (4-bit indices into a fixed non-linear table of 16 levels); x = d·(ls − 32)·T[q].
    /// </summary>
    IQ4_XS,

    /// <summary>
    /// block_iq4_nl, 32 values in 18 bytes (4.5 bits): fp16 d, u8 qs[16] (indices into the same table as IQ4_XS); x = d·T[q].
    /// llama.cpp's fallback for Q2_K, Q3_K and IQ4_XS on rows that are not a multiple of 256.
    /// </summary>
    IQ4_NL,
}

/// <summary>Block geometry of <see cref="KQuantType"/> values.</summary>
public static class KQuantTypes
{
    /// <summary>Values of a super-block (QK_K).</summary>
    public const int SuperBlockSize = 256;

    /// <summary>Values of one block: 256, or 32 for IQ4_NL.</summary>
    public static int ValuesPerBlock(this KQuantType type) => type switch
    {
        KQuantType.Q2_K or KQuantType.Q3_K or KQuantType.Q4_K or KQuantType.IQ4_XS => SuperBlockSize,
        KQuantType.IQ4_NL => 32,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not a k-quant type."),
    };

    /// <summary>Bytes of one block.</summary>
    public static int BytesPerBlock(this KQuantType type) => type switch
    {
        KQuantType.Q2_K => 84,
        KQuantType.Q3_K => 110,
        KQuantType.Q4_K => 144,
        KQuantType.IQ4_XS => 136,
        KQuantType.IQ4_NL => 18,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not a k-quant type."),
    };

    /// <summary>ggml's <c>enum ggml_type</c> code of the format (GGUF files store it).</summary>
    public static int GgmlCode(this KQuantType type) => type switch
    {
        KQuantType.Q2_K => 10,
        KQuantType.Q3_K => 11,
        KQuantType.Q4_K => 12,
        KQuantType.IQ4_NL => 20,
        KQuantType.IQ4_XS => 23,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not a k-quant type."),
    };

    /// <summary>Bytes that <paramref name="elementCount"/> values take, or −1 when the count is not a multiple of the block.</summary>
    public static long StorageSize(this KQuantType type, long elementCount) =>
        elementCount % type.ValuesPerBlock() != 0 ? -1 : elementCount / type.ValuesPerBlock() * type.BytesPerBlock();

    /// <summary>The 16 levels of IQ4_XS and IQ4_NL (ggml's <c>kvalues_iq4nl</c>).</summary>
    public static ReadOnlySpan<sbyte> NonLinearLevels => [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
}
