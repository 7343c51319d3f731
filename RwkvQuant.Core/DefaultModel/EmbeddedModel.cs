using RwkvQuant.Corpora;
using RwkvQuant.Formats.Safetensors;
using RwkvQuant.Models;
using RwkvQuant.Tokenizers;

namespace RwkvQuant.DefaultModel;

/// <summary>
/// The default model that ships inside RwkvQuant.Core: a byte-level RWKV-7 (4 layers, width 256, vocabulary 256,
/// 3.6 M parameters, FP16) trained by this project with <c>rwkvquant train</c> on the train split of
/// <see cref="ReferencePackCorpus"/>. Its calibration and evaluation text are that corpus's
/// <see cref="CorpusSplit.Calibration"/> and <see cref="CorpusSplit.Evaluation"/> splits (disjoint, never trained on),
/// read from the .NET SDK on the machine; its tokenizer is <see cref="ByteTokenizer"/> (UTF-8 bytes). How it was
/// trained: <c>DefaultModel/RECIPE.md</c> in the repository.
/// </summary>
public static class EmbeddedModel
{
    /// <summary>The manifest resource name of the weights (FP16 safetensors) in the RwkvQuant.Core assembly.</summary>
    public const string ResourceName = "RwkvQuant.DefaultModel.model.safetensors";

    /// <summary>A short name for the model, as reports show it.</summary>
    public const string Name = "default-rwkv7";

    /// <summary>One line saying what the model is.</summary>
    public const string Description =
        "the embedded default model: a byte-level RWKV-7 (4 layers × 256, vocabulary 256) trained by RwkvQuant on the .NET reference-pack XML documentation";

    /// <summary>The tokenizer the model was trained with: UTF-8 bytes, one token per byte (vocabulary 256).</summary>
    public static ITokenizer Tokenizer => ByteTokenizer.Instance;

    /// <summary>How the weights are named in error messages.</summary>
    private static string Source => $"embedded resource '{ResourceName}' of {typeof(EmbeddedModel).Assembly.GetName().Name}";

    /// <summary>The stored tensors as the resource holds them (FP16) and its metadata.</summary>
    /// <exception cref="FileNotFoundException">The assembly has no such resource (a build without it).</exception>
    /// <exception cref="InvalidDataException">The resource is not a well-formed safetensors file (the message names it).</exception>
    public static SafetensorsFile ReadFile()
    {
        using Stream stream = typeof(EmbeddedModel).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new FileNotFoundException($"The default model's weights, {Source}, are missing from this build.", ResourceName);
        return SafetensorsReader.Read(stream, Source);
    }

    /// <summary>Loads the model (float32 tensors, config inferred from them: RWKV-7, 4 layers, width 256, vocabulary 256).</summary>
    /// <exception cref="FileNotFoundException">The assembly has no such resource.</exception>
    /// <exception cref="InvalidDataException">The resource does not hold an RWKV model (the message names it and the tensor).</exception>
    public static RwkvModel Load() => CanonicalModel.FromTensors(ReadFile().Tensors, Source);
}
