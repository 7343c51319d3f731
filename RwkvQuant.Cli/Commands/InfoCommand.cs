using System.CommandLine;
using System.Globalization;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Formats.Pth;
using RwkvQuant.Formats.Safetensors;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using Spectre.Console;

namespace RwkvQuant.Cli.Commands;

/// <summary><c>rwkvquant info &lt;model&gt;</c>: architecture, parameter count, and every tensor.</summary>
internal static class InfoCommand
{
    public static Command Create(CliContext context)
    {
        var model = new Argument<FileInfo>("model") { Description = "The model file (rwkv.cpp .bin, PyTorch .pth, safetensors or quantized .rwkvq)." };
        var command = new Command("info", "Show a model's architecture and tensors.") { model };
        command.SetAction((parse, cancellationToken) => context.RunAsync(parse,
            _ => Run(context.Console, parse.GetRequiredValue(model).FullName), cancellationToken));
        return command;
    }

    /// <summary>A tensor as the file stores it.</summary>
    private sealed record StoredTensor(string Name, string Type, IReadOnlyList<long> Shape);

    private static int Run(IAnsiConsole console, string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Model file '{path}' does not exist.", path);
        ModelFileFormat format = RwkvModelFile.DetectFormat(path);
        // The stored type of each tensor comes from the file (the model holds float32 after loading).
        var (description, storedList, quantized) = ReadStored(path, format);
        var stored = storedList.ToDictionary(r => r.Name, StringComparer.Ordinal);

        RwkvModel? model = null;
        string? notRunnable = null;
        try
        {
            model = RwkvModelFile.Load(path);
        }
        catch (InvalidDataException exception) when (format != ModelFileFormat.Ggml)
        {
            // A checkpoint that is not a runnable RWKV model can still be inspected.
            notRunnable = exception.Message;
        }

        var summary = new Table { Border = TableBorder.Rounded, ShowHeaders = false };
        summary.AddColumn("property");
        summary.AddColumn("value");
        void Row(string name, string value) => summary.AddRow(Markup.Escape(name), Markup.Escape(value));
        Row("file", path);
        Row("format", description);
        if (model is null)
        {
            Row("model", $"not runnable: {notRunnable}");
            Row("parameters", Format(storedList.Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b))));
            Row("tensors", Format(storedList.Count));
        }
        else
        {
            RwkvConfig config = model.Config;
            Row("version", config.Version.ToString());
            Row("layers", Format(config.LayerCount));
            Row("width", Format(config.EmbeddingSize));
            Row("heads", Format(config.HeadCount));
            Row("head size", Format(config.HeadSize));
            Row("vocabulary", Format(config.VocabularySize));
            Row("FFN size", Format(config.FeedForwardSize));
            Row("parameters", Format(model.ParameterCount));
            Row("tensors", Format(model.Tensors.Count));
        }
        if (quantized is not null)
            Row("quantized", string.Create(CultureInfo.InvariantCulture,
                $"{quantized.QuantizedTensors.Count} tensors at {quantized.QuantizedBitsPerWeight:F4} bpw; whole model {quantized.BitsPerWeight:F4} bpw"));
        console.Write(summary);

        var tensors = new Table { Border = TableBorder.Simple };
        tensors.AddColumn("tensor");
        tensors.AddColumn("shape");
        tensors.AddColumn("stored as");
        tensors.AddColumn(new TableColumn("parameters").RightAligned());
        IEnumerable<(string Name, IReadOnlyList<long> Shape)> rows = model is null
            ? storedList.Select(t => (t.Name, t.Shape))
            : model.Tensors.Values.OrderBy(t => t.Name, TensorOrder.Instance).Select(t => (t.Name, t.Shape));
        foreach (var (name, shape) in rows)
        {
            StoredTensor? record = StoredRecord(stored, name);
            string storedAs = record is null ? "?" : $"{record.Type} [{string.Join(", ", record.Shape)}]"
                + (record.Name == name ? "" : $" in {record.Name}");
            tensors.AddRow(
                Markup.Escape(name),
                Markup.Escape($"[{string.Join(", ", shape)}]"),
                Markup.Escape(storedAs),
                Format(shape.Aggregate(1L, (a, b) => a * b)));
        }
        console.Write(tensors);
        return 0;
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
                SafetensorsFile file = SafetensorsReader.Read(path);
                if (QuantizedModelFile.IsQuantizedModel(file))
                {
                    QuantizedModel quantized = QuantizedModelFile.FromSafetensors(file, path);
                    return ($"rwkvquant quantized model (safetensors), format version {QuantizedModelFile.FormatVersion}",
                        [.. quantized.QuantizedTensors.Select(t => new StoredTensor(t.Name, string.Create(CultureInfo.InvariantCulture, $"{t.Scheme}, {t.BitsPerWeight:F4} bpw,"), [t.Rows, t.Columns])),
                         .. quantized.FullPrecisionTensors.Select(t => new StoredTensor(t.Name, t.Type.ToString(), t.Shape))],
                        quantized);
                }
                string metadata = file.Metadata.Count == 0 ? "" : $", metadata {{{string.Join(", ", file.Metadata.Select(m => $"{m.Key}: {m.Value}"))}}}";
                return ($"safetensors{metadata}", file.Tensors.Select(t => new StoredTensor(t.Name, t.Type.ToString(), t.Shape)).ToList(), null);
            default:
                return ("PyTorch zip checkpoint", PthReader.Read(path).Select(t => new StoredTensor(t.Name, t.Type.ToString(), t.Shape)).ToList(), null);
        }
    }

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
