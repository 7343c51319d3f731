namespace RwkvQuant.Models;

/// <summary>
/// The catalogue of a model's linear weights: every tensor that a forward pass uses as a matrix product (reported by
/// <see cref="INetworkObserver.OnLinearInput"/> under the same names), with its <c>[out, in]</c> form. Embedding
/// (a lookup, not a product), norms and vectors are not in it.
/// </summary>
internal static class LinearWeights
{
    private static readonly string[] Projections =
        ["att.receptance.weight", "att.key.weight", "att.value.weight", "att.gate.weight", "att.output.weight",
         "ffn.receptance.weight", "ffn.key.weight", "ffn.value.weight"];

    private static readonly string[] V6LoRA = ["att.time_maa_w1", "att.time_decay_w1", "att.time_decay_w2"];

    private static readonly string[] V7LoRA = ["att.w1", "att.w2", "att.a1", "att.a2", "att.v1", "att.v2", "att.g1", "att.g2"];

    /// <summary>The model's linear weights, block by block in forward order of blocks, then <c>head.weight</c>.</summary>
    public static IReadOnlyList<LinearWeight> Of(RwkvModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var result = new List<LinearWeight>();
        for (int i = 0; i < model.Config.LayerCount; i++)
        {
            string p = $"blocks.{i}.";
            foreach (string suffix in Projections)
                AddIfPresent(model, result, p + suffix, i, LinearLayout.OutIn);
            if (model.Config.Version == RwkvVersion.V6)
            {
                foreach (string suffix in V6LoRA)
                    AddIfPresent(model, result, p + suffix, i, LinearLayout.InOut);
                AddIfPresent(model, result, p + "att.time_maa_w2", i, LinearLayout.StackedInOut);
            }
            else if (model.Config.Version == RwkvVersion.V7)
            {
                foreach (string suffix in V7LoRA)
                {
                    // Block 0 computes no value residual: its v1/v2 (present in some checkpoints) are never used.
                    if (i == 0 && suffix is "att.v1" or "att.v2")
                        continue;
                    AddIfPresent(model, result, p + suffix, i, LinearLayout.InOut);
                }
            }
        }
        AddIfPresent(model, result, "head.weight", -1, LinearLayout.OutIn);
        return result;
    }

    private static void AddIfPresent(RwkvModel model, List<LinearWeight> result, string name, int block, LinearLayout layout)
    {
        if (!model.Tensors.TryGetValue(name, out var tensor))
            return;
        IReadOnlyList<long> shape = tensor.Shape;
        LinearWeight weight = layout switch
        {
            LinearLayout.OutIn when shape.Count == 2 => new(name, block, layout, checked((int)shape[0]), checked((int)shape[1]), 1),
            LinearLayout.InOut when shape.Count == 2 => new(name, block, layout, checked((int)shape[1]), checked((int)shape[0]), 1),
            LinearLayout.StackedInOut when shape.Count == 3 =>
                new(name, block, layout, checked((int)shape[2]), checked((int)(shape[0] * shape[1])), checked((int)shape[0])),
            _ => throw new ArgumentException($"Tensor '{name}' has shape [{string.Join(", ", shape)}], not the {layout} matrix its name implies.", nameof(model)),
        };
        result.Add(weight);
    }
}
