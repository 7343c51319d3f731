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

    /// <summary>
    /// block_iq3_s, 256 values in 110 bytes (3.4375 bits): fp16 d, u8 qs[64] and u8 qh[8] (per 4 values a 9-bit index
    /// into a fixed grid of 512 points, <see cref="KQuantTypes.Iq3sGrid"/>), u8 signs[32] (one sign bit per value),
    /// u8 scales[4] (a 4-bit scale s per 32 values); x = d·(1 + 2s)·(±level), the level one of 1, 3, …, 15.
    /// llama.cpp falls back to IQ4_NL on rows that are not a multiple of 256.
    /// </summary>
    IQ3_S,
}

/// <summary>Block geometry of <see cref="KQuantType"/> values.</summary>
public static class KQuantTypes
{
    /// <summary>Values of a super-block (QK_K).</summary>
    public const int SuperBlockSize = 256;

    /// <summary>Values of one block: 256, or 32 for IQ4_NL.</summary>
    public static int ValuesPerBlock(this KQuantType type) => type switch
    {
        KQuantType.Q2_K or KQuantType.Q3_K or KQuantType.Q4_K or KQuantType.IQ4_XS or KQuantType.IQ3_S => SuperBlockSize,
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
        KQuantType.IQ3_S => 110,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not a k-quant type."),
    };

    /// <summary>ggml's <c>enum ggml_type</c> code of the format (GGUF files store it).</summary>
    public static int GgmlCode(this KQuantType type) => type switch
    {
        KQuantType.Q2_K => 10,
        KQuantType.Q3_K => 11,
        KQuantType.Q4_K => 12,
        KQuantType.IQ4_NL => 20,
        KQuantType.IQ3_S => 21,
        KQuantType.IQ4_XS => 23,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not a k-quant type."),
    };

    /// <summary>Bytes that <paramref name="elementCount"/> values take, or −1 when the count is not a multiple of the block.</summary>
    public static long StorageSize(this KQuantType type, long elementCount) =>
        elementCount % type.ValuesPerBlock() != 0 ? -1 : elementCount / type.ValuesPerBlock() * type.BytesPerBlock();

    /// <summary>The 16 levels of IQ4_XS and IQ4_NL (ggml's <c>kvalues_iq4nl</c>).</summary>
    public static ReadOnlySpan<sbyte> NonLinearLevels => [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

    /// <summary>
    /// IQ3_S's grid (ggml's <c>iq3s_grid</c>): 512 points of four levels, point i's level k (1, 3, …, 15) in byte k of
    /// entry i (little-endian), so that an entry read as four bytes is the four values' magnitudes in order.
    /// </summary>
    public static ReadOnlySpan<uint> Iq3sGrid => Iq3sGridEntries;

    /// <summary>
    /// IQ3_S's grid as ggml's quantizer defines it (<c>kgrid_512</c> in <c>iq3xs_init_impl</c>): point i's level k is
    /// 2·((code >> 3k) &amp; 7) + 1.
    /// </summary>
    public static ReadOnlySpan<ushort> Iq3sGridCodes =>
    [
        0, 1, 2, 5, 7, 8, 9, 10, 12, 14, 16, 17, 21, 27, 32, 34, 37, 39, 41, 43, 48, 50, 57, 60, 63, 64, 65, 66, 68, 72,
        73, 77, 80, 83, 87, 89, 93, 100, 113, 117, 122, 128, 129, 133, 135, 136, 139, 142, 145, 149, 152, 156, 162, 165,
        167, 169, 171, 184, 187, 195, 201, 205, 208, 210, 217, 219, 222, 228, 232, 234, 247, 249, 253, 256, 267, 271, 273,
        276, 282, 288, 291, 297, 312, 322, 324, 336, 338, 342, 347, 353, 357, 359, 374, 379, 390, 393, 395, 409, 426, 441,
        448, 450, 452, 464, 466, 470, 475, 488, 492, 512, 513, 514, 516, 520, 521, 523, 525, 527, 528, 530, 537, 540, 542,
        556, 558, 561, 570, 576, 577, 579, 582, 584, 588, 593, 600, 603, 609, 616, 618, 632, 638, 640, 650, 653, 655, 656,
        660, 666, 672, 675, 685, 688, 698, 705, 708, 711, 712, 715, 721, 727, 728, 732, 737, 754, 760, 771, 773, 778, 780,
        793, 795, 802, 806, 808, 812, 833, 840, 843, 849, 856, 858, 873, 912, 916, 919, 932, 934, 961, 963, 968, 970, 977,
        989, 993, 1010, 1016, 1024, 1025, 1027, 1029, 1031, 1032, 1034, 1036, 1038, 1041, 1043, 1047, 1048, 1050, 1057,
        1059, 1061, 1064, 1066, 1079, 1080, 1083, 1085, 1088, 1090, 1096, 1099, 1103, 1106, 1109, 1113, 1116, 1122, 1129,
        1153, 1156, 1159, 1169, 1171, 1176, 1183, 1185, 1195, 1199, 1209, 1212, 1216, 1218, 1221, 1225, 1234, 1236, 1241,
        1243, 1250, 1256, 1270, 1281, 1287, 1296, 1299, 1306, 1309, 1313, 1338, 1341, 1348, 1353, 1362, 1375, 1376, 1387,
        1400, 1408, 1410, 1415, 1425, 1453, 1457, 1477, 1481, 1494, 1496, 1507, 1512, 1538, 1545, 1547, 1549, 1551, 1554,
        1561, 1563, 1565, 1570, 1572, 1575, 1577, 1587, 1593, 1601, 1603, 1605, 1612, 1617, 1619, 1632, 1648, 1658, 1662,
        1664, 1674, 1680, 1690, 1692, 1704, 1729, 1736, 1740, 1745, 1747, 1751, 1752, 1761, 1763, 1767, 1773, 1787, 1795,
        1801, 1806, 1810, 1817, 1834, 1840, 1844, 1857, 1864, 1866, 1877, 1882, 1892, 1902, 1915, 1934, 1953, 1985, 1987,
        2000, 2002, 2013, 2048, 2052, 2058, 2064, 2068, 2071, 2074, 2081, 2088, 2104, 2114, 2119, 2121, 2123, 2130, 2136,
        2141, 2147, 2153, 2157, 2177, 2179, 2184, 2189, 2193, 2203, 2208, 2223, 2226, 2232, 2244, 2249, 2251, 2256, 2258,
        2265, 2269, 2304, 2306, 2324, 2335, 2336, 2361, 2373, 2375, 2385, 2418, 2443, 2460, 2480, 2504, 2509, 2520, 2531,
        2537, 2562, 2568, 2572, 2578, 2592, 2596, 2599, 2602, 2614, 2620, 2625, 2627, 2629, 2634, 2641, 2650, 2682, 2688,
        2697, 2707, 2712, 2718, 2731, 2754, 2759, 2760, 2775, 2788, 2793, 2805, 2811, 2817, 2820, 2832, 2842, 2854, 2890,
        2902, 2921, 2923, 2978, 3010, 3012, 3026, 3081, 3083, 3085, 3097, 3099, 3120, 3136, 3152, 3159, 3188, 3210, 3228,
        3234, 3245, 3250, 3256, 3264, 3276, 3281, 3296, 3349, 3363, 3378, 3392, 3395, 3420, 3440, 3461, 3488, 3529, 3531,
        3584, 3588, 3591, 3600, 3602, 3614, 3616, 3628, 3634, 3650, 3657, 3668, 3683, 3685, 3713, 3716, 3720, 3726, 3729,
        3736, 3753, 3778, 3802, 3805, 3819, 3841, 3845, 3851, 3856, 3880, 3922, 3938, 3970, 3993, 4032,
    ];

    private static readonly uint[] Iq3sGridEntries = BuildIq3sGrid();

    private static uint[] BuildIq3sGrid()
    {
        ReadOnlySpan<ushort> codes = Iq3sGridCodes;
        var grid = new uint[codes.Length];
        for (int i = 0; i < codes.Length; i++)
        {
            for (int k = 0; k < 4; k++)
                grid[i] |= (uint)(2 * (codes[i] >> (3 * k) & 7) + 1) << (8 * k);
        }
        return grid;
    }
}
