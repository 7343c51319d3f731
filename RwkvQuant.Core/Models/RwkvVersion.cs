namespace RwkvQuant.Models;

/// <summary>RWKV architecture generation.</summary>
public enum RwkvVersion
{
    /// <summary>RWKV-4 (scalar time decay per channel).</summary>
    V4,
    /// <summary>RWKV-5.1 "Eagle" precursor (multi-head matrix state, gate, group norm; time_first stored as exp).</summary>
    V5_1,
    /// <summary>RWKV-5.2 "Eagle".</summary>
    V5_2,
    /// <summary>RWKV-6 "Finch" (data-dependent token shift and decay).</summary>
    V6,
    /// <summary>RWKV-7 "Goose" (generalized delta rule).</summary>
    V7,
}
