using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace RwkvQuant.Cli;

/// <summary>The one JSON style of <c>--json</c> output: camelCase names, enums as camelCase strings, indented, every
/// field written (null included), non-finite numbers as null (JSON has no NaN; see <see cref="Finite"/>).</summary>
internal static class CliJson
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        // Readable ×, −, ᵀ in messages and descriptions; the output is never embedded in HTML.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    /// <summary><paramref name="value"/>, or null where it is NaN or infinite.</summary>
    public static double? Finite(double value) => double.IsFinite(value) ? value : null;

    /// <summary><paramref name="value"/>, or null where it is null, NaN or infinite.</summary>
    public static double? Finite(double? value) => value is { } v && double.IsFinite(v) ? v : null;
}
