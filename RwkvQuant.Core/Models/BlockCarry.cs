using static TorchSharp.torch;

namespace RwkvQuant.Models;

/// <summary>
/// What a block hands to the later blocks of the same forward pass: RWKV-7's value of block 0 (<c>v_first</c>, which
/// every later block mixes into its own value). Empty for the other versions. One per batch and pass; the tensor
/// lives in the dispose scope of the pass that made it (or the caller's, when blocks are run one at a time).
/// </summary>
internal sealed class BlockCarry
{
    /// <summary>RWKV-7: block 0's value <c>[B, T, C]</c>, set by block 0.</summary>
    public Tensor? ValueFirst { get; set; }
}
