using System.Globalization;
using System.Text.RegularExpressions;
using RwkvQuant.Codebooks;
using RwkvQuant.Comparison;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.Pipeline;
using RwkvQuant.Proxy;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar.Ggml;
using RwkvQuant.Scalar.Gptq;
using RwkvQuant.Scalar.KQuants;
using RwkvQuant.Scalar.Rtn;
using RwkvQuant.Vector.Gptvq;
using RwkvQuant.Vector.KMeans;

namespace RwkvQuant.Cli.Commands;

/// <summary>
/// <c>quantize</c>'s direct settings: <c>--bits</c>, <c>--group-size</c>, <c>--sym</c>, <c>--act-order</c>,
/// <c>--damp</c>, <c>--vq-dim</c>; null or false where not given (the method's defaults then hold).
/// </summary>
internal sealed record QuantizerSettings(int? Bits, int? GroupSize, bool Symmetric, bool ActOrder, double? Damping, int? VectorDimension)
{
    public static QuantizerSettings None { get; } = new(null, null, false, false, null, null);

    /// <summary>The flags given, as the user wrote them (for messages).</summary>
    public IReadOnlyList<string> Given =>
    [
        .. Bits is null ? Array.Empty<string>() : ["--bits"], .. GroupSize is null ? Array.Empty<string>() : ["--group-size"],
        .. Symmetric ? ["--sym"] : Array.Empty<string>(), .. ActOrder ? ["--act-order"] : Array.Empty<string>(),
        .. Damping is null ? Array.Empty<string>() : ["--damp"], .. VectorDimension is null ? Array.Empty<string>() : ["--vq-dim"],
    ];

    /// <summary>The settings that <paramref name="method"/> takes (for a --tensor-type rule: the others are the main method's).</summary>
    public QuantizerSettings For(string method) => method.ToLowerInvariant() switch
    {
        "gptq" => this with { VectorDimension = null },
        "rtn" => this with { ActOrder = false, Damping = null, VectorDimension = null },
        "gptvq" => this with { GroupSize = null, Symmetric = false, ActOrder = false },
        _ => None,
    };

    /// <summary><paramref name="start"/> with the scalar settings given (bits, group size, symmetric, act-order, damping).</summary>
    public GptqOptions Gptq(GptqOptions start)
    {
        Refuse("GPTQ", VectorDimension is null ? null : "--vq-dim");
        return Checked(() => start with
        {
            Bits = Bits ?? start.Bits, GroupSize = GroupSize ?? start.GroupSize, Symmetric = Symmetric || start.Symmetric,
            ActOrder = ActOrder || start.ActOrder, DampingPercent = Damping ?? start.DampingPercent,
        });
    }

    public RoundToNearestOptions Rtn()
    {
        Refuse("RTN", ActOrder ? "--act-order" : Damping is not null ? "--damp" : VectorDimension is not null ? "--vq-dim" : null);
        RoundToNearestOptions start = RoundToNearestOptions.Default;
        return Checked(() => start with { Bits = Bits ?? start.Bits, GroupSize = GroupSize ?? start.GroupSize, Symmetric = Symmetric });
    }

    public GptvqOptions Gptvq()
    {
        Refuse("GPTVQ", GroupSize is not null ? "--group-size" : Symmetric ? "--sym" : ActOrder ? "--act-order" : null);
        GptvqOptions start = GptvqOptions.Default;
        return Checked(() =>
        {
            KMeansOptions codebooks = start.Codebooks with { Bits = Bits ?? start.Codebooks.Bits, Dimension = VectorDimension ?? start.Codebooks.Dimension };
            if (codebooks.GroupColumns % codebooks.Dimension != 0)
                throw new ArgumentException($"--vq-dim is {codebooks.Dimension}: GPTVQ's groups are {codebooks.GroupColumns} columns wide, so the " +
                    $"dimension divides {codebooks.GroupColumns}.");
            return start with { Codebooks = codebooks, DampingFraction = Damping ?? start.DampingFraction };
        });
    }

    private static void Refuse(string method, string? flag)
    {
        if (flag is not null)
            throw new ArgumentException($"{flag} does not apply to {method}.");
    }

    /// <summary>The options' own range checks, worded for the command line.</summary>
    private static T Checked<T>(Func<T> create)
    {
        try
        {
            return create();
        }
        catch (ArgumentOutOfRangeException e)
        {
            string flag = e.ParamName switch
            {
                "Bits" => "--bits", "GroupSize" => "--group-size", "DampingPercent" or "DampingFraction" => "--damp", "Dimension" => "--vq-dim",
                _ => e.ParamName ?? "a setting",
            };
            throw new ArgumentException($"{flag} is {Convert.ToString(e.ActualValue, CultureInfo.InvariantCulture)}: {CliContext.OneLine(e)}", e);
        }
    }
}

/// <summary>
/// The methods of <c>quantize --method</c> and <c>--tensor-type</c>, one vocabulary with <c>compare</c>'s keys:
/// <c>hybrid</c> (RWKVQuant: the proxy picks GPTQ or GPTVQ per matrix, codebooks for the multiplication vectors),
/// <c>gptq</c>, <c>gptvq</c>, <c>rtn</c> (each on every block matrix), rwkv.cpp's ggml formats and llama.cpp's k-quants
/// byte for byte as llama-quantize makes them (<c>-imat</c>: weighted by an importance matrix).
/// </summary>
internal static class QuantizeMethod
{
    public const string Hybrid = "hybrid";

    private static readonly Dictionary<string, GgmlType> Ggml = new(StringComparer.OrdinalIgnoreCase)
    {
        ["q4_0"] = GgmlType.Q4_0, ["q4_1"] = GgmlType.Q4_1, ["q5_0"] = GgmlType.Q5_0, ["q5_1"] = GgmlType.Q5_1, ["q8_0"] = GgmlType.Q8_0,
    };

    private static readonly Dictionary<string, KQuantType> KQuants = new(StringComparer.OrdinalIgnoreCase)
    {
        ["q2_k"] = KQuantType.Q2_K, ["q3_k"] = KQuantType.Q3_K, ["q4_k"] = KQuantType.Q4_K, ["iq4_xs"] = KQuantType.IQ4_XS, ["iq3_s"] = KQuantType.IQ3_S,
    };

    /// <summary>Every method key, for help and messages.</summary>
    public static IReadOnlyList<string> Names { get; } =
        [Hybrid, "gptq", "gptvq", "rtn", .. Ggml.Keys, .. KQuants.Keys.SelectMany(k => new[] { k, k + "-imat" })];

    /// <summary>Whether <paramref name="key"/> is a method: one of <see cref="Names"/>, or GPTVQ with its codebooks
    /// spelled out (<c>gptvq-dD-bB-gRxC</c>).</summary>
    public static bool IsMethod(string key)
    {
        if (Names.Contains(key, StringComparer.OrdinalIgnoreCase))
            return true;
        try
        {
            return ComparisonMethod.TryParseGptvq(key, out _);
        }
        catch (ArgumentException)
        {
            return true; // of that form, with values that ForMatrix refuses, naming them
        }
    }

    /// <summary><c>compare</c>'s parse of a <c>gptvq-dD-bB-gRxC</c> key (null when the key is not of that form), its
    /// refusals worded for the command line.</summary>
    private static GptvqOptions? SpelledOutGptvq(string key)
    {
        try
        {
            return ComparisonMethod.TryParseGptvq(key, out GptvqOptions? options) ? options : null;
        }
        catch (ArgumentException e) when (e.InnerException is { } inner)
        {
            throw new ArgumentException($"'{key}': {CliContext.OneLine(inner)}", e);
        }
    }

    /// <summary>The keys a matrix can be given with <c>--tensor-type</c>: the per-matrix methods, and <c>f32</c> (kept).</summary>
    public static string TensorTypeNames => string.Join(", ", Names.Where(n => n != Hybrid).Prepend("f32").Append("gptvq-dD-bB-gRxC"));

    /// <summary>
    /// The quantizer of one matrix for <paramref name="key"/>: a scalar one (gptq, rtn, ggml, k-quants) or a vector one
    /// (gptvq), with <paramref name="settings"/> where the method takes them.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown key, or a setting the method does not take.</exception>
    public static (IScalarQuantizer? Scalar, IVectorQuantizer? Vector) ForMatrix(string key, QuantizerSettings settings)
    {
        if (key.Equals("gptq", StringComparison.OrdinalIgnoreCase))
            return (new GptqQuantizer(settings.Gptq(GptqOptions.Default)), null);
        if (key.Equals("rtn", StringComparison.OrdinalIgnoreCase))
            return (new RoundToNearestQuantizer(settings.Rtn()), null);
        if (key.Equals("gptvq", StringComparison.OrdinalIgnoreCase))
            return (null, new GptvqQuantizer(settings.Gptvq()));
        if (SpelledOutGptvq(key) is { } spelled)
        {
            if (settings.Given.Count > 0)
                throw new ArgumentException($"{string.Join(", ", settings.Given)}: {key} names its settings; give them there or use --method gptvq.");
            return (null, new GptvqQuantizer(spelled));
        }
        bool importance = key.EndsWith("-imat", StringComparison.OrdinalIgnoreCase);
        string format = importance ? key[..^"-imat".Length] : key;
        if (Ggml.TryGetValue(format, out GgmlType ggml) && !importance)
        {
            RefuseSettings(key, settings);
            return (new GgmlQuantizer(new GgmlQuantizerOptions(ggml)), null);
        }
        if (KQuants.TryGetValue(format, out KQuantType kquant))
        {
            RefuseSettings(key, settings);
            return (new KQuantizer(new KQuantizerOptions(kquant, importance)), null);
        }
        throw new ArgumentException($"Unknown method '{key}'; choose from {string.Join(", ", Names)}, or gptvq-dD-bB-gRxC.");
    }

    /// <summary>
    /// The pipeline for <paramref name="key"/> on a model whose hybrid plan is <paramref name="plan"/> (the hybrid method
    /// uses it; <paramref name="settings"/> then replace its SQ branch's GPTQ settings), with its description for the
    /// report. <c>hybrid</c> has codebooks unless <paramref name="codebooks"/> is false; the other methods keep the
    /// multiplication vectors in FP32 (matrices only, as llama-quantize and GPTQ do).
    /// </summary>
    public static (HybridQuantizerBuilder Builder, string Description) Pipeline(string key, HybridPlan? plan, QuantizerSettings settings)
    {
        if (key.Equals(Hybrid, StringComparison.OrdinalIgnoreCase))
        {
            ArgumentNullException.ThrowIfNull(plan);
            if (!settings.Given.Any())
                return (plan.CreateBuilder(), $"plan: {plan}");
            GptqOptions scalar = settings.Gptq(plan.Scalar);
            HybridQuantizerBuilder builder = (plan.IsAllocated
                    ? throw new ArgumentException("--allocate picks every matrix's settings; give no " + string.Join("/", settings.Given) + " with it.")
                    : HybridQuantizer.CreateBuilder().UseProxy(new CoarseToFineProxy(), plan.Thresholds))
                .UseScalar(new GptqQuantizer(scalar))
                .UseVector(new GptvqQuantizer(plan.Vector));
            if (plan.Codebooks is { } c)
                builder.UseCodebookOptimizer(new ActivationWeightedCodebookOptimizer(c));
            return (builder, string.Create(CultureInfo.InvariantCulture, $"hybrid: τ_c {plan.Thresholds.Coarse:G4}, τ_f {plan.Thresholds.Fine:G4}; SQ " +
                $"{new GptqQuantizer(scalar).Name} | VQ {new GptvqQuantizer(plan.Vector).Name}; codebooks: {(plan.Codebooks is null ? "none" : "yes")}"));
        }
        (IScalarQuantizer? s, IVectorQuantizer? v) = ForMatrix(key, settings);
        HybridQuantizerBuilder single = HybridQuantizer.CreateBuilder()
            .UseSelector(s is null ? FixedSelector.Vector : FixedSelector.Scalar)
            .UseScalar(s ?? new GptqQuantizer())
            .UseVector(v ?? new GptvqQuantizer());
        return (single, $"every block matrix {(s is null ? $"VQ {v!.Name}" : $"SQ {s.Name}")}; multiplication vectors kept in FP32");
    }

    private static void RefuseSettings(string key, QuantizerSettings settings)
    {
        if (settings.Given.Count > 0)
            throw new ArgumentException($"{string.Join(", ", settings.Given)}: {key} is a fixed format; the settings apply to gptq, rtn, gptvq and hybrid.");
    }

    /// <summary>
    /// The block matrices of <paramref name="names"/> that <paramref name="pattern"/> matches: a glob over canonical names
    /// (<c>*</c> any run of characters, <c>?</c> one), e.g. <c>blocks.*.ffn.value.weight</c> or <c>blocks.0.*</c>.
    /// </summary>
    public static IReadOnlyList<string> Match(string pattern, IEnumerable<string> names)
    {
        var regex = new Regex("^" + Regex.Escape(pattern).Replace(@"\*", ".*", StringComparison.Ordinal).Replace(@"\?", ".", StringComparison.Ordinal) + "$",
            RegexOptions.CultureInvariant);
        return [.. names.Where(n => regex.IsMatch(n))];
    }
}

/// <summary>
/// A named bundle of <c>quantize</c> settings (<c>--preset</c>), in the spirit of llama-quantize's Q4_K_M: the method,
/// its budget and recipe, and per-tensor types.
/// </summary>
internal sealed record QuantizePreset(string Name, string Description, string Method, double? BitsPerWeight = null, bool Allocate = false,
    HybridRecipe Recipe = HybridRecipe.Default, QuantizerSettings? Settings = null, IReadOnlyList<string>? TensorTypes = null)
{
    public static IReadOnlyList<QuantizePreset> All { get; } =
    [
        new("rq3", "RWKVQuant hybrid, the default recipe (GPTQ 3-bit g32 int6 act-order | GPTVQ d1 b3; 4-bit codebooks): what quantize does without " +
            "options", QuantizeMethod.Hybrid),
        new("rq3-paper", "RWKVQuant hybrid with the paper's settings (GPTQ 3-bit g64 FP16 | GPTVQ d1 b3; 3-bit " +
            "codebooks)", QuantizeMethod.Hybrid, Recipe: HybridRecipe.Paper),
        new("rq3.25", "hybrid, a 3.25 bits-per-weight budget spent by measured error (--bpw 3.25 --allocate)", QuantizeMethod.Hybrid, 3.25, Allocate: true),
        new("rq3.5", "hybrid, a 3.5 bits-per-weight budget spent by measured error (--bpw 3.5 --allocate)", QuantizeMethod.Hybrid, 3.5, Allocate: true),
        new("gptq4-g128", "GPTQ 4-bit, groups of 128, symmetric, act-order (GPTQModel's usual 4-bit)", "gptq",
            Settings: new QuantizerSettings(4, 128, Symmetric: true, ActOrder: true, null, null)),
        new("q3_k_m", "llama.cpp Q3_K with an importance matrix; att.value, att.output and ffn.value (llama's attn_v, attn_output, ffn_down) in " +
            "Q4_K", "q3_k-imat",
            TensorTypes: ["blocks.*.att.value.weight=q4_k-imat", "blocks.*.att.output.weight=q4_k-imat", "blocks.*.ffn.value.weight=q4_k-imat"]),
    ];

    /// <summary>The preset named <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">No such preset.</exception>
    public static QuantizePreset Find(string name) =>
        All.FirstOrDefault(p => p.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown preset '{name}'; choose from {string.Join(", ", All.Select(p => p.Name))}.");

    /// <summary>The presets with their descriptions, a line each (for --help).</summary>
    public static string Listing => string.Join("; ", All.Select(p => $"{p.Name}: {p.Description}"));
}

/// <summary>
/// One <c>--keep PATTERN</c> (<see cref="Method"/> null) or <c>--tensor-type PATTERN=METHOD</c>: the block matrices the glob
/// matches are kept in F32 or quantized with that method whatever the selector says. Later rules win where patterns overlap.
/// </summary>
internal sealed record TensorTypeRule(string Pattern, string? Method, string Flag, IScalarQuantizer? Scalar = null, IVectorQuantizer? Vector = null)
{
    /// <summary>Reads <c>PATTERN=METHOD</c>; the method's quantizer is made (and checked) now.</summary>
    /// <exception cref="ArgumentException">No '=', an empty side, or an unknown method.</exception>
    public static TensorTypeRule Parse(string text, QuantizerSettings settings)
    {
        int equals = text.LastIndexOf('=');
        if (equals <= 0 || equals == text.Length - 1)
            throw new ArgumentException($"--tensor-type '{text}': write PATTERN=METHOD, e.g. 'blocks.*.ffn.value.weight=q4_k'.");
        string pattern = text[..equals].Trim(), method = text[(equals + 1)..].Trim();
        if (method.Equals("f32", StringComparison.OrdinalIgnoreCase))
            return new TensorTypeRule(pattern, null, "--tensor-type");
        if (method.Equals(QuantizeMethod.Hybrid, StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"--tensor-type '{text}': a matrix takes one method; choose from {QuantizeMethod.TensorTypeNames}.");
        try
        {
            (IScalarQuantizer? scalar, IVectorQuantizer? vector) = QuantizeMethod.ForMatrix(method, settings.For(method));
            return new TensorTypeRule(pattern, method, "--tensor-type", scalar, vector);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"--tensor-type '{text}': {CliContext.OneLine(e)}", e);
        }
    }

    /// <summary>Pins or keeps the matching matrices of <paramref name="blockMatrices"/> on <paramref name="builder"/>.</summary>
    /// <returns>A line per rule: what it matched.</returns>
    /// <exception cref="ArgumentException">A pattern matches no block matrix (the message says what it does match, if anything).</exception>
    public static IReadOnlyList<string> Apply(IReadOnlyList<TensorTypeRule> rules, HybridQuantizerBuilder builder, IReadOnlyList<string> blockMatrices,
        IEnumerable<string> allTensors)
    {
        var chosen = new Dictionary<string, TensorTypeRule>(StringComparer.Ordinal);
        var lines = new List<string>();
        foreach (TensorTypeRule rule in rules)
        {
            IReadOnlyList<string> matched = QuantizeMethod.Match(rule.Pattern, blockMatrices);
            if (matched.Count == 0)
            {
                IReadOnlyList<string> other = QuantizeMethod.Match(rule.Pattern, allTensors);
                throw new ArgumentException(other.Count > 0
                    ? $"{rule.Flag} '{rule.Pattern}' matches no block matrix, only {string.Join(", ", other.Take(3))}{(other.Count > 3 ? ", …" : "")}: " +
                        "the embedding and head are always kept in FP16, vectors in FP32 (or codebooks)."
                    : $"{rule.Flag} '{rule.Pattern}' matches no tensor of the model; block matrices are named like " +
                        $"{(blockMatrices.Count > 0 ? blockMatrices[0] : "blocks.0.att.key.weight")} (`rwkvquant info` lists them).");
            }
            foreach (string name in matched)
                chosen[name] = rule;
            lines.Add($"{rule.Pattern}: {matched.Count} matrices {(rule.Method is null ? "kept in F32" : $"in {rule.Method}")}");
        }
        foreach ((string name, TensorTypeRule rule) in chosen)
        {
            if (rule.Method is null)
                builder.Keep(name);
            else if (rule.Scalar is not null)
                builder.PinScalar(name, rule.Scalar);
            else
                builder.PinVector(name, rule.Vector);
        }
        return lines;
    }
}

/// <summary><c>--embedding-type</c> / <c>--head-type</c>: a storage type (kept) or a quantizer that needs no calibration.</summary>
internal sealed record OutsideBlocksType(TensorDataType? Kept, IScalarQuantizer? Quantizer)
{
    /// <exception cref="ArgumentException">An unknown type, or a method that needs calibration (GPTQ, GPTVQ, -imat).</exception>
    public static OutsideBlocksType Parse(string flag, string? text, QuantizerSettings settings)
    {
        switch (text?.ToLowerInvariant())
        {
            case null:
                return new(null, null);
            case "f16":
                return new(TensorDataType.F16, null);
            case "bf16":
                return new(TensorDataType.BF16, null);
            case "f32":
                return new(TensorDataType.F32, null);
        }
        try
        {
            (IScalarQuantizer? scalar, _) = QuantizeMethod.ForMatrix(text, settings.For(text));
            if (scalar is null || scalar.RequiresHessian)
                throw new ArgumentException("it is quantized from its weights alone: f16, bf16, f32, rtn or a ggml format without -imat.");
            return new(null, scalar);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{flag} {text}: {CliContext.OneLine(e)}", e);
        }
    }
}
