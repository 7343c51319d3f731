using System.CommandLine;
using RwkvQuant.Calibration;
using RwkvQuant.Corpora;
using RwkvQuant.DefaultModel;
using RwkvQuant.Models;

namespace RwkvQuant.Cli;

/// <summary>
/// The optional <c>model</c> argument of the commands that take a model, and the <c>--corpus</c> option: without a
/// model file the command uses the embedded default model (<see cref="EmbeddedModel"/>), and its calibration and
/// evaluation text default to the splits of the .NET reference-pack documentation found through the SDK
/// (<see cref="ReferencePackCorpus"/>), or read from <c>--corpus</c>.
/// </summary>
internal sealed class ModelChoice
{
    public ModelChoice(string description) =>
        Model = new Argument<FileInfo?>("model")
        {
            Description = description + $" Default: {EmbeddedModel.Description}.",
            Arity = ArgumentArity.ZeroOrOne,
        };

    public Argument<FileInfo?> Model { get; }

    public Option<DirectoryInfo?> Corpus { get; } = new("--corpus")
    {
        Description = "For the default model's texts: a ref/net10.0 folder of .NET XML documentation to read instead of the one found through the SDK.",
    };

    /// <summary>The model file's full path, or null for the embedded default model.</summary>
    public string? Path(ParseResult parse) => parse.GetValue(Model)?.FullName;

    /// <summary>The folder given with <c>--corpus</c>, or null to find the reference pack through the SDK.</summary>
    public string? CorpusDirectory(ParseResult parse) => parse.GetValue(Corpus)?.FullName;

    /// <summary>
    /// Calibration samples for the default model when none are asked for: 32 windows of 256 bytes, a quarter of the
    /// 128 × 512 default for model files, so that <c>rwkvquant quantize</c> takes minutes on a small CPU.
    /// </summary>
    public static CalibrationOptions DefaultModelCalibration { get; } = new() { SampleCount = 32, TokensPerSample = 256 };

    /// <summary>The calibration options asked for, else the defaults for a model file or for the default model.</summary>
    public static CalibrationOptions CalibrationFor(string? path, int? samples, int? tokensPerSample, int? seed = null)
    {
        CalibrationOptions defaults = path is null ? DefaultModelCalibration : CalibrationOptions.Default;
        return defaults with
        {
            SampleCount = samples ?? defaults.SampleCount, TokensPerSample = tokensPerSample ?? defaults.TokensPerSample, Seed = seed ?? defaults.Seed,
        };
    }

    /// <summary>The corpus of the default model's texts, read when first needed.</summary>
    public Lazy<ReferencePackCorpus> LazyCorpus(ParseResult parse, CancellationToken cancellationToken)
    {
        string? directory = CorpusDirectory(parse);
        return new Lazy<ReferencePackCorpus>(() => TextSource.LoadCorpus(directory, cancellationToken));
    }

    /// <summary>Loads the model file at <paramref name="path"/>, or the embedded default model when it is null.</summary>
    public static RwkvModel Load(string? path) => path is null ? EmbeddedModel.Load() : CliContext.LoadModel(path);

    /// <summary>What reports call the model: the file name, or the default model's name.</summary>
    public static string DisplayName(string? path) =>
        path is null ? $"{EmbeddedModel.Name} (embedded)" : System.IO.Path.GetFileName(path);
}
