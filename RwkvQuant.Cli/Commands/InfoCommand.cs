using System.CommandLine;
using System.Globalization;
using System.Text.Json.Serialization;
using RwkvQuant.DefaultModel;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Formats.Pth;
using RwkvQuant.Formats.Safetensors;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using Spectre.Console;

namespace RwkvQuant.Cli.Commands;

/// <summary><c>rwkvquant info &lt;model&gt;</c>: architecture, parameter count, and every tensor.</summary>
internal static class InfoCommand
{
    public static Command Create(CliContext context)
    {
        var model = new ModelChoice("The model file (rwkv.cpp .bin, PyTorch .pth, safetensors or quantized .rwkvq).");
        var command = new Command("info", "Show a model's architecture and tensors.") { model.Model };
        context.Examples.Add(command,
            new("rwkvquant info", "The embedded default model: architecture, parameters, every tensor"),
            new("rwkvquant info default-rwkv7.rwkvq", "The default model after `rwkvquant quantize`: scheme and bits per weight of each tensor"),
            new("rwkvquant info tiny-rwkv-7v0-834K-FP16.bin", "Architecture, parameters, every tensor and how the file stores it"),
            new("rwkvquant info model.rwkvq", "A quantized model: scheme and bits per weight of each tensor"),
            new("rwkvquant info model.bin --json", "The same as JSON, for scripts"));
        context.AddJson(command);
        command.SetAction((parse, cancellationToken) => context.RunAsync(parse, _ =>
        {
            Report report = model.Path(parse) is { } path ? Inspect(path) : InspectEmbedded();
            if (context.IsJson(parse))
                context.WriteJson(report);
            else
                Render(context.Console, report);
            return 0;
        }, cancellationToken));
        return command;
    }

    /// <summary>A tensor as the file stores it: <paramref name="Type"/> is the element type, or the quantization
    /// scheme with its <paramref name="BitsPerWeight"/>.</summary>
    internal sealed record StoredTensor(string Name, string Type, IReadOnlyList<long> Shape, double? BitsPerWeight = null)
    {
        [JsonIgnore]
        public string Display => BitsPerWeight is { } bpw
            ? string.Create(CultureInfo.InvariantCulture, $"{Type}, {bpw:F4} bpw, [{string.Join(", ", Shape)}]")
            : $"{Type} [{string.Join(", ", Shape)}]";
    }

    /// <summary>What <c>info</c> shows (and writes with <c>--json</c>).</summary>
    internal sealed record Report(string File, string Format, bool Runnable, string? NotRunnableReason, ConfigReport? Config,
        long Parameters, int TensorCount, QuantizedReport? Quantized, IReadOnlyList<TensorReport> Tensors);

    internal sealed record ConfigReport(string Version, int Layers, int Width, int Heads, int HeadSize, int VocabularySize, int FeedForwardSize);

    /// <param name="TensorCount">Quantized tensors.</param>
    /// <param name="Parameters">Parameters of the quantized tensors.</param>
    /// <param name="StoredBits">Stored bits of the quantized tensors.</param>
    /// <param name="BitsPerWeight">Stored bits / parameters over the quantized tensors.</param>
    /// <param name="WholeModelBitsPerWeight">Stored bits / parameters over every tensor of the model.</param>
    internal sealed record QuantizedReport(int TensorCount, long Parameters, long StoredBits, double BitsPerWeight, double WholeModelBitsPerWeight);

    /// <param name="Stored">The file record it came from (for v7's packed mixing vectors, <c>att.x_rwkvag</c>); null if none matched.</param>
    internal sealed record TensorReport(string Name, IReadOnlyList<long> Shape, long Parameters, StoredTensor? Stored);

    private static Report Inspect(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Model file '{path}' does not exist.", path);
        ModelFileFormat format = RwkvModelFile.DetectFormat(path);
        // The stored type of each tensor comes from the file (the model holds float32 after loading).
        var (description, storedList, quantized) = ReadStored(path, format);
        if (quantized is not null)
        {
            // Its header says all there is to say: loading it as a model would dequantize every tensor to float32
            // (13 GB and over a minute for a 1.5B model).
            return Describe(path, description, storedList, quantized, quantized.Config,
                quantized.CanonicalShapes.OrderBy(t => t.Key, TensorOrder.Instance).Select(t => (t.Key, t.Value)), null);
        }

        RwkvModel? model = null;
        string? notRunnable = null;
        try
        {
            model = RwkvModelFile.Load(path);
            if (model.FindNonFinite() is { } bad)
                notRunnable = $"{bad}; eval, quantize, generate and bench refuse a model whose weights are not all finite.";
        }
        catch (InvalidDataException exception) when (format != ModelFileFormat.Ggml)
        {
            // A checkpoint that is not a runnable RWKV model can still be inspected.
            notRunnable = exception.Message;
        }
        return Describe(path, description, storedList, null, model?.Config,
            model?.Tensors.Values.OrderBy(t => t.Name, TensorOrder.Instance).Select(t => (t.Name, t.Shape)), notRunnable);
    }

    /// <summary>The embedded default model, as its resource stores it.</summary>
    private static Report InspectEmbedded()
    {
        SafetensorsFile file = EmbeddedModel.ReadFile();
        RwkvModel model = EmbeddedModel.Load();
        return Describe($"{EmbeddedModel.Name} (embedded resource {EmbeddedModel.ResourceName})", $"safetensors{Metadata(file)}; {EmbeddedModel.Description}",
            [.. file.Tensors.Select(t => new StoredTensor(t.Name, t.Type.ToString(), t.Shape))], null, model.Config,
            model.Tensors.Values.OrderBy(t => t.Name, TensorOrder.Instance).Select(t => (t.Name, t.Shape)), null);
    }

    /// <summary>The report: <paramref name="modelTensors"/> are the runnable model's tensors in order with their shapes
    /// (null with <paramref name="modelConfig"/> when the file is not a runnable model).</summary>
    private static Report Describe(string path, string description, IReadOnlyList<StoredTensor> storedList, QuantizedModel? quantized,
        RwkvConfig? modelConfig, IEnumerable<(string Name, IReadOnlyList<long> Shape)>? modelTensors, string? notRunnable)
    {
        var stored = storedList.ToDictionary(r => r.Name, StringComparer.Ordinal);
        (string Name, IReadOnlyList<long> Shape)[] rows = [.. modelTensors ?? storedList.Select(t => (t.Name, t.Shape))];
        TensorReport[] tensors = [.. rows.Select(r => new TensorReport(r.Name, r.Shape, r.Shape.Aggregate(1L, (a, b) => a * b), StoredRecord(stored, r.Name)))];
        ConfigReport? config = modelConfig is { } c
            ? new ConfigReport(c.Version.ToString(), c.LayerCount, c.EmbeddingSize, c.HeadCount, c.HeadSize, c.VocabularySize, c.FeedForwardSize)
            : null;
        QuantizedReport? quantizedReport = quantized is null ? null : new QuantizedReport(quantized.QuantizedTensors.Count,
            quantized.QuantizedParameterCount, quantized.QuantizedStoredBits, quantized.QuantizedBitsPerWeight, quantized.BitsPerWeight);
        return new Report(path, description, modelConfig is not null && notRunnable is null, notRunnable, config,
            tensors.Sum(t => t.Parameters), tensors.Length, quantizedReport, tensors);
    }

    private static void Render(IAnsiConsole console, Report report)
    {
        var summary = new Table { Border = TableBorder.Rounded, ShowHeaders = false };
        summary.AddColumn("property");
        summary.AddColumn("value");
        void Row(string name, string value) => summary.AddRow(Markup.Escape(name), Markup.Escape(value));
        Row("file", report.File);
        Row("format", report.Format);
        if (report.Config is not { } config)
        {
            Row("model", $"not runnable: {report.NotRunnableReason}");
            Row("parameters", Format(report.Parameters));
            Row("tensors", Format(report.TensorCount));
        }
        else
        {
            Row("version", config.Version);
            Row("layers", Format(config.Layers));
            Row("width", Format(config.Width));
            Row("heads", Format(config.Heads));
            Row("head size", Format(config.HeadSize));
            Row("vocabulary", Format(config.VocabularySize));
            Row("FFN size", Format(config.FeedForwardSize));
            Row("parameters", Format(report.Parameters));
            Row("tensors", Format(report.TensorCount));
            Row("weights", report.NotRunnableReason is { } reason ? $"not runnable: {reason}" : "complete and finite");
        }
        if (report.Quantized is { } q)
            Row("quantized", string.Create(CultureInfo.InvariantCulture,
                $"{q.TensorCount} tensors at {q.BitsPerWeight:F4} bpw; whole model {q.WholeModelBitsPerWeight:F4} bpw"));
        console.Write(summary);

        var tensors = new Table { Border = TableBorder.Simple };
        tensors.AddColumn("tensor");
        tensors.AddColumn("shape");
        tensors.AddColumn("stored as");
        tensors.AddColumn(new TableColumn("parameters").RightAligned());
        foreach (TensorReport t in report.Tensors)
        {
            string storedAs = t.Stored is not { } record ? "?" : record.Display + (record.Name == t.Name ? "" : $" in {record.Name}");
            tensors.AddRow(
                Markup.Escape(t.Name),
                Markup.Escape($"[{string.Join(", ", t.Shape)}]"),
                Markup.Escape(storedAs),
                Format(t.Parameters));
        }
        console.Write(tensors);
    }

    private static (string Description, IReadOnlyList<StoredTensor> Tensors, QuantizedModel? Quantized) ReadStored(string path, ModelFileFormat format)
    {
        switch (format)
        {
            case ModelFileFormat.Ggml:
                var (header, records) = GgmlReader.Read(path);
                return ($"rwkv.cpp ggml, file version {header.FileVersion}, data type {header.DataType}",
                    records.Select(r => new StoredTensor(r.Name, r.Type.ToString(), r.Shape)).ToList(), null);
            case ModelFileFormat.Safetensors:
                if (QuantizedModelFile.IsQuantizedModel(path))
                {
                    QuantizedModel quantized = QuantizedModelFile.Load(path);
                    return ($"rwkvquant quantized model (safetensors), format version {QuantizedModelFile.FormatVersion}",
                        [.. quantized.QuantizedTensors.Select(t => new StoredTensor(t.Name, t.Scheme, [t.Rows, t.Columns], t.BitsPerWeight)),
                         .. quantized.FullPrecisionTensors.Select(t => new StoredTensor(t.Name, t.Type.ToString(), t.Shape))],
                        quantized);
                }
                SafetensorsFile file = SafetensorsReader.Open(path);
                return ($"safetensors{Metadata(file)}", file.Tensors.Select(t => new StoredTensor(t.Name, t.Type.ToString(), t.Shape)).ToList(), null);
            default:
                return ("PyTorch zip checkpoint", PthReader.Read(path).Select(t => new StoredTensor(t.Name, t.Type.ToString(), t.Shape)).ToList(), null);
        }
    }

    private static string Metadata(SafetensorsFile file) =>
        file.Metadata.Count == 0 ? "" : $", metadata {{{string.Join(", ", file.Metadata.Select(m => $"{m.Key}: {m.Value}"))}}}";

    /// <summary>The file record a canonical tensor came from: the same name, or (v7) the packed <c>att.x_rwkvag</c>.</summary>
    private static StoredTensor? StoredRecord(Dictionary<string, StoredTensor> stored, string name)
    {
        if (stored.TryGetValue(name, out StoredTensor? record))
            return record;
        int dot = name.LastIndexOf('.');
        return dot > 0 && stored.TryGetValue(name[..(dot + 1)] + "x_rwkvag", out record) ? record : null;
    }

    private static string Format(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>emb first, then blocks in numeric order, then the rest (ln_out, head), names alphabetical within.</summary>
    private sealed class TensorOrder : IComparer<string>
    {
        public static TensorOrder Instance { get; } = new();

        public int Compare(string? x, string? y)
        {
            int byRank = Rank(x!).CompareTo(Rank(y!));
            return byRank != 0 ? byRank : string.CompareOrdinal(x, y);
        }

        private static int Rank(string name)
        {
            if (name.StartsWith("emb.", StringComparison.Ordinal))
                return -1;
            string[] parts = name.Split('.');
            return parts.Length > 2 && parts[0] == "blocks" && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int block)
                ? block
                : int.MaxValue;
        }
    }
}
