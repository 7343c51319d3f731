namespace RwkvQuant.Fuzz;

/// <summary>The model file formats the fuzzer mutates, one seed set each.</summary>
public enum FuzzFormat
{
    /// <summary>rwkv.cpp's ggml file (<c>.bin</c>).</summary>
    Bin,
    /// <summary>PyTorch zip checkpoint (<c>.pth</c>).</summary>
    Pth,
    /// <summary>Hugging Face safetensors holding a float model.</summary>
    Safetensors,
    /// <summary>A quantized model (<c>.rwkvq</c>, safetensors with the packed parts and JSON metadata).</summary>
    Rwkvq,
}

/// <summary>Names and file extensions of <see cref="FuzzFormat"/>.</summary>
public static class FuzzFormats
{
    /// <summary>Every format, in the order the summary lists them.</summary>
    public static IReadOnlyList<FuzzFormat> All { get; } = [FuzzFormat.Bin, FuzzFormat.Pth, FuzzFormat.Safetensors, FuzzFormat.Rwkvq];

    /// <summary>The lower-case name used on the command line and in the summary.</summary>
    public static string Name(this FuzzFormat format) => format switch
    {
        FuzzFormat.Bin => "bin",
        FuzzFormat.Pth => "pth",
        FuzzFormat.Safetensors => "safetensors",
        FuzzFormat.Rwkvq => "rwkvq",
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, null),
    };

    /// <summary>The file extension, with its dot.</summary>
    public static string Extension(this FuzzFormat format) => format switch
    {
        FuzzFormat.Safetensors => ".safetensors",
        _ => "." + format.Name(),
    };

    /// <summary>Parses a name written by <see cref="Name"/>.</summary>
    /// <exception cref="ArgumentException">No format has that name.</exception>
    public static FuzzFormat Parse(string name)
    {
        foreach (FuzzFormat format in All)
        {
            if (string.Equals(format.Name(), name, StringComparison.OrdinalIgnoreCase))
                return format;
        }
        throw new ArgumentException($"Unknown format '{name}' (expected {string.Join(", ", All.Select(f => f.Name()))}).", nameof(name));
    }
}
