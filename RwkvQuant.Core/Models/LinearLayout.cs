namespace RwkvQuant.Models;

/// <summary>How a canonical (BlinkDL) weight tensor holds the <c>[out, in]</c> matrix that quantizers work on.</summary>
internal enum LinearLayout
{
    /// <summary>PyTorch Linear layout <c>[out, in]</c>, used as x·Wᵀ (the projections and the head). The matrix is the tensor.</summary>
    OutIn,

    /// <summary>
    /// <c>[in, out]</c>, used as x·W (the LoRA matrices: v6 <c>time_maa_w1</c> <c>[C, 5D]</c>, <c>time_decay_w1</c>
    /// <c>[C, D]</c>, <c>time_decay_w2</c> <c>[D, C]</c>; v7 <c>w1, a1, v1, g1</c> <c>[C, D]</c> and <c>w2, a2, v2, g2</c>
    /// <c>[D, C]</c>). The matrix is the transpose: element <c>[o, i]</c> is the tensor's <c>[i, o]</c>.
    /// </summary>
    InOut,

    /// <summary>
    /// v6 <c>time_maa_w2</c> <c>[5, D, C]</c>: five LoRA up-projections, slice s used as h_s·W2[s] on its own input
    /// h_s <c>[D]</c> (the s-th D-chunk of <c>tanh(x·time_maa_w1)</c>). The matrix is <c>[C, 5D]</c>, the five
    /// transposed slices side by side: element <c>[c, s·D + d]</c> is the tensor's <c>[s, d, c]</c>. Its input is the
    /// whole <c>[5D]</c> vector, but each output only sees its own slice, so the Hessian that measures this matrix's
    /// output error is block-diagonal (5 blocks of D): tr(ΔM H ΔMᵀ) with the off-diagonal blocks zeroed is exactly
    /// Σ_s tr(Δ_s H_ss Δ_sᵀ).
    /// </summary>
    StackedInOut,
}
