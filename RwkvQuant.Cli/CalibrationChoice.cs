using System.CommandLine;
using RwkvQuant.Calibration;
using RwkvQuant.Corpora;

namespace RwkvQuant.Cli;

/// <summary>
/// The calibration options that <c>quantize</c>, <c>imatrix</c> and <c>compare</c> share — <c>--calib</c>,
/// <c>--calib-docs</c>, <c>--samples</c>, <c>--sample-tokens</c>, <c>--seed</c> — and what they select.
/// </summary>
internal sealed class CalibrationChoice
{
    public Option<FileInfo?> Text { get; } = new("--calib")
    {
        Description = "Calibration text (.jsonl or plain text); keep it apart from any text you evaluate on. Required with a model file where " +
                      "calibration is used; default model: the reference-pack calibration split.",
    };

    public Option<string?> Documents { get; } = new("--calib-docs")
    {
        Description = "Calibration documents of a .jsonl file (or of the calibration split), a..b inclusive. Default: all.",
    };

    public Option<int?> Samples { get; } = new("--samples")
    {
        Description = $"Calibration samples. Default: {CalibrationOptions.Default.SampleCount} ({ModelChoice.DefaultModelCalibration.SampleCount} for the " +
            $"default model).",
    };

    public Option<int?> SampleTokens { get; } = new("--sample-tokens")
    {
        Description = $"Tokens per calibration sample. Default: {CalibrationOptions.Default.TokensPerSample} " +
            $"({ModelChoice.DefaultModelCalibration.TokensPerSample} for the default model).",
    };

    public Option<int?> Seed { get; } = new("--seed")
    {
        Description = "Seed of the calibration windows (default 0): the same seed picks the same samples; repeat with other seeds to see the spread.",
    };

    public void AddTo(Command command)
    {
        foreach (Option option in new Option[] { Text, Documents, Samples, SampleTokens, Seed })
            command.Add(option);
    }

    /// <summary>The calibration file's full path, or null (the default model's split, or none).</summary>
    public string? Path(ParseResult parse) => parse.GetValue(Text)?.FullName;

    /// <summary>The <c>--calib-docs</c> range, or null for all.</summary>
    public DocumentRange? Range(ParseResult parse) => parse.GetValue(Documents) is { } text ? DocumentRange.Parse(text) : null;

    /// <summary>The samples asked for, else the defaults for a model file (<paramref name="modelPath"/>) or the default model.</summary>
    public CalibrationOptions Options(ParseResult parse, string? modelPath) =>
        ModelChoice.CalibrationFor(modelPath, parse.GetValue(Samples), parse.GetValue(SampleTokens), parse.GetValue(Seed));
}
