using System.Globalization;
using System.Text.RegularExpressions;

namespace RwkvQuant.Formats.Pth;

/// <summary>
/// Renames the tensors of BlinkDL's RWKV-8 "ROSA" demo checkpoints built on RWKV-7 blocks (RWKV-LM/RWKV-v8,
/// e.g. <c>251105_reverse_L2.pth</c>) to BlinkDL's canonical RWKV-7 names. Their model (one-based layer i) computes
/// <c>x = e(tokens); x += rwkv_i(ln_i_a(x)) + rosa_i(ln_i_c(x)); x += ffn_i(ln_i_b(x)); logits = o(lno(x))</c>, so:
/// <list type="bullet">
/// <item><c>e.weight</c> → <c>emb.weight</c>; <c>lno.*</c> → <c>ln_out.*</c>; <c>o.weight</c>/<c>o.bias</c> → <c>head.weight</c>/<c>head.bias</c>
/// (a head bias, which standard RWKV-7 lacks);</item>
/// <item><c>ln{i}a.*</c> → <c>blocks.{i−1}.ln1.*</c>, <c>ln{i}b.*</c> → <c>blocks.{i−1}.ln2.*</c>;</item>
/// <item><c>rwkv{i}.X</c> → <c>blocks.{i−1}.att.X</c> (same names and shapes as BlinkDL's x070 time mix),
/// <c>ffn{i}.X</c> → <c>blocks.{i−1}.ffn.X</c>;</item>
/// <item>the ROSA branch, which has no RWKV-7 counterpart, is kept: <c>ln{i}c.*</c> → <c>blocks.{i−1}.ln_rosa.*</c>,
/// <c>rosa{i}.X</c> → <c>blocks.{i−1}.rosa.X</c>.</item>
/// </list>
/// There is no <c>blocks.0.ln0</c>: these models feed the embedding to block 0 without a layer norm.
/// </summary>
internal static partial class RosaRwkv7Keys
{
    [GeneratedRegex(@"^(?<kind>rwkv|rosa|ffn)(?<layer>[1-9][0-9]{0,3})\.(?<rest>.+)$", RegexOptions.CultureInvariant)]
    private static partial Regex ModuleKey();

    [GeneratedRegex(@"^ln(?<layer>[1-9][0-9]{0,3})(?<which>[abc])\.(?<rest>weight|bias)$", RegexOptions.CultureInvariant)]
    private static partial Regex NormKey();

    /// <summary>True when the tensors use the ROSA demo's RWKV-7 layout (<c>e.weight</c> and <c>rwkv1.*</c> present).</summary>
    public static bool Matches(IReadOnlyList<TensorData> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        return tensors.Any(t => t.Name == "e.weight") && tensors.Any(t => t.Name.StartsWith("rwkv1.", StringComparison.Ordinal));
    }

    /// <summary>Returns the tensors, in the same order, under canonical names (bytes shared, nothing converted).</summary>
    /// <exception cref="ArgumentException">The layout is not the ROSA demo's, or a key has no mapping.</exception>
    public static IReadOnlyList<TensorData> ToBlinkDL(IReadOnlyList<TensorData> tensors)
    {
        if (!Matches(tensors))
            throw new ArgumentException("The tensors are not an RWKV-7 ROSA demo checkpoint (e.weight and rwkv1.* expected).", nameof(tensors));
        var renamed = new List<TensorData>(tensors.Count);
        foreach (TensorData tensor in tensors)
            renamed.Add(tensor.WithName(Rename(tensor.Name)));
        return renamed;
    }

    /// <summary>The canonical name of one ROSA demo key.</summary>
    /// <exception cref="ArgumentException">The key has no mapping.</exception>
    public static string Rename(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        switch (key)
        {
            case "e.weight": return "emb.weight";
            case "lno.weight": return "ln_out.weight";
            case "lno.bias": return "ln_out.bias";
            case "o.weight": return "head.weight";
            case "o.bias": return "head.bias";
        }
        Match module = ModuleKey().Match(key);
        if (module.Success)
        {
            string part = module.Groups["kind"].Value switch { "rwkv" => "att", "ffn" => "ffn", _ => "rosa" };
            return $"blocks.{Block(module)}.{part}.{module.Groups["rest"].Value}";
        }
        Match norm = NormKey().Match(key);
        if (norm.Success)
        {
            string part = norm.Groups["which"].Value switch { "a" => "ln1", "b" => "ln2", _ => "ln_rosa" };
            return $"blocks.{Block(norm)}.{part}.{norm.Groups["rest"].Value}";
        }
        throw new ArgumentException($"Key '{key}' has no RWKV-7 mapping in the ROSA demo layout.", nameof(key));
    }

    private static int Block(Match match) => int.Parse(match.Groups["layer"].Value, CultureInfo.InvariantCulture) - 1;
}
