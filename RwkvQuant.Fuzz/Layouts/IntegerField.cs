namespace RwkvQuant.Fuzz.Layouts;

/// <summary>A little-endian unsigned or signed integer field of a file: <paramref name="Width"/> bytes (2, 4 or 8) at
/// <paramref name="Offset"/>, named for the mutation's description (e.g. <c>record 3 dim 0</c>).</summary>
public sealed record IntegerField(long Offset, int Width, string Name);

/// <summary>
/// Where a seed file's structure is: its integer fields (what <c>int-field</c> mutations set to interesting values) and
/// the byte ranges that hold headers rather than tensor data (where byte flips and overwrites are steered, since flips
/// in weights only change the weights).
/// </summary>
public sealed record FileLayout(IReadOnlyList<IntegerField> Fields, IReadOnlyList<(long Start, long Length)> Structure)
{
    /// <summary>A layout that knows nothing of the file.</summary>
    public static FileLayout Empty { get; } = new([], []);
}
