namespace RwkvQuant.Kernels.Packed;

/// <summary>ggml's block formats (32 values per block). The values are not the file codes (rwkv.cpp and ggml number them differently).</summary>
public enum GgmlBlockType
{
    /// <summary>fp16 d; u8 qs[16]: x = d·(q − 8). 18 bytes.</summary>
    Q4_0,

    /// <summary>fp16 d, m; u8 qs[16]: x = d·q + m. 20 bytes.</summary>
    Q4_1,

    /// <summary>fp16 d; u8 qh[4]; u8 qs[16]: x = d·(q − 16). 22 bytes.</summary>
    Q5_0,

    /// <summary>fp16 d, m; u8 qh[4]; u8 qs[16]: x = d·q + m. 24 bytes.</summary>
    Q5_1,

    /// <summary>fp16 d; i8 qs[32]: x = d·q. 34 bytes.</summary>
    Q8_0,
}
