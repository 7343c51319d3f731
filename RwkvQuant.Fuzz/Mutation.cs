namespace RwkvQuant.Fuzz;

/// <summary>What was done to a seed file: a <paramref name="Kind"/> (e.g. <c>int-field</c>) and a
/// <paramref name="Detail"/> precise enough to repeat it by hand (offsets, old and new values).</summary>
public sealed record Mutation(string Kind, string Detail)
{
    /// <inheritdoc />
    public override string ToString() => $"{Kind}: {Detail}";
}

/// <summary>A mutated file: its bytes, the seed it came from and the mutation applied.</summary>
public sealed record MutatedFile(byte[] Bytes, string SeedName, Mutation Mutation);
