using System.CommandLine;
using System.Globalization;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Models;
using Spectre.Console;

namespace RwkvQuant.Cli.Commands;

/// <summary><c>rwkvquant info &lt;model&gt;</c>: architecture, parameter count, and every tensor.</summary>
internal static class InfoCommand
{
    public static Command Create(CliContext context)
    {
        var model = new Argument<FileInfo>("model") { Description = "The model file (rwkv.cpp .bin)." };
        var command = new Command("info", "Show a model's architecture and tensors.") { model };
        command.SetAction((parse, cancellationToken) => context.RunAsync(parse,
            _ => Run(context.Console, parse.GetRequiredValue(model).FullName), cancellationToken));
        return command;
    }

    private static int Run(IAnsiConsole console, string path)
    {
        RwkvModel model = CliContext.LoadModel(path);
        // The stored type of each tensor comes from the file's records (the model holds float32 after loading).
        var (header, records) = GgmlReader.Read(path);
        var stored = records.ToDictionary(r => r.Name, StringComparer.Ordinal);
        RwkvConfig config = model.Config;

        var summary = new Table { Border = TableBorder.Rounded, ShowHeaders = false };
        summary.AddColumn("property");
        summary.AddColumn("value");
        void Row(string name, string value) => summary.AddRow(Markup.Escape(name), Markup.Escape(value));
        Row("file", path);
        Row("format", $"rwkv.cpp ggml, file version {header.FileVersion}, data type {header.DataType}");
        Row("version", config.Version.ToString());
        Row("layers", Format(config.LayerCount));
        Row("width", Format(config.EmbeddingSize));
        Row("heads", Format(config.HeadCount));
        Row("head size", Format(config.HeadSize));
        Row("vocabulary", Format(config.VocabularySize));
        Row("FFN size", Format(config.FeedForwardSize));
        Row("parameters", Format(model.ParameterCount));
        Row("tensors", Format(model.Tensors.Count));
        console.Write(summary);

        var tensors = new Table { Border = TableBorder.Simple };
        tensors.AddColumn("tensor");
        tensors.AddColumn("shape");
        tensors.AddColumn("stored as");
        tensors.AddColumn(new TableColumn("parameters").RightAligned());
        foreach (TensorData tensor in model.Tensors.Values.OrderBy(t => t, TensorOrder.Instance))
        {
            GgmlTensor? record = StoredRecord(stored, tensor.Name);
            string storedAs = record is null ? "?" : $"{record.Type} [{string.Join(", ", record.Shape)}]"
                + (record.Name == tensor.Name ? "" : $" in {record.Name}");
            tensors.AddRow(
                Markup.Escape(tensor.Name),
                Markup.Escape($"[{string.Join(", ", tensor.Shape)}]"),
                Markup.Escape(storedAs),
                Format(tensor.ElementCount));
        }
        console.Write(tensors);
        return 0;
    }

    /// <summary>The file record a canonical tensor came from: the same name, or (v7) the packed <c>att.x_rwkvag</c>.</summary>
    private static GgmlTensor? StoredRecord(Dictionary<string, GgmlTensor> stored, string name)
    {
        if (stored.TryGetValue(name, out GgmlTensor? record))
            return record;
        int dot = name.LastIndexOf('.');
        return dot > 0 && stored.TryGetValue(name[..(dot + 1)] + "x_rwkvag", out record) ? record : null;
    }

    private static string Format(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>emb first, then blocks in numeric order, then the rest (ln_out, head), names alphabetical within.</summary>
    private sealed class TensorOrder : IComparer<TensorData>
    {
        public static TensorOrder Instance { get; } = new();

        public int Compare(TensorData? x, TensorData? y)
        {
            int byRank = Rank(x!.Name).CompareTo(Rank(y!.Name));
            return byRank != 0 ? byRank : string.CompareOrdinal(x.Name, y.Name);
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
