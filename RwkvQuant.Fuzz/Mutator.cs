using RwkvQuant.Fuzz.Mutations;

namespace RwkvQuant.Fuzz;

/// <summary>
/// Picks and applies one mutation to a seed, by kinds weighted per format: byte flips, truncation and chunk overwrites for
/// every format; integer fields at format-aware offsets (rwkv.cpp header and record headers, zip local and central
/// headers and EOCD, the safetensors header length); whole rwkv.cpp records; the safetensors/<c>.rwkvq</c> JSON header;
/// a checkpoint's pickle and entries with its zip rebuilt around them. Deterministic for a given <see cref="Random"/>.
/// </summary>
public static class Mutator
{
    private delegate MutatedFile Kind(SeedFile seed, Random random);

    private static readonly (Kind Mutate, int Weight)[] Common =
    [
        ((s, r) => ByteMutations.Flip(s.Bytes, s.Name, s.Layout, r), 2),
        ((s, r) => ByteMutations.Truncate(s.Bytes, s.Name, s.Layout, r), 1),
        ((s, r) => ByteMutations.Overwrite(s.Bytes, s.Name, s.Layout, r), 2),
    ];

    private static readonly (Kind Mutate, int Weight)[] Bin =
    [
        .. Common,
        ((s, r) => ByteMutations.SetField(s.Bytes, s.Name, s.Layout, r), 4),
        ((s, r) => GgmlRecordMutations.Apply(s.Bytes, s.Name, s.Records, r), 1),
    ];

    private static readonly (Kind Mutate, int Weight)[] Pth =
    [
        .. Common,
        ((s, r) => ByteMutations.SetField(s.Bytes, s.Name, s.Layout, r), 3),
        ((s, r) => PthEntryMutations.Pickle(s.Entries, s.Name, r), 7),
        ((s, r) => PthEntryMutations.Entries(s.Entries, s.Name, r), 3),
    ];

    private static readonly (Kind Mutate, int Weight)[] Safetensors =
    [
        .. Common,
        ((s, r) => ByteMutations.SetField(s.Bytes, s.Name, s.Layout, r), 1),
        ((s, r) => JsonHeader(s, r), 7),
    ];

    /// <summary>One mutation of <paramref name="seed"/>.</summary>
    public static MutatedFile Mutate(SeedFile seed, Random random)
    {
        ArgumentNullException.ThrowIfNull(seed);
        ArgumentNullException.ThrowIfNull(random);
        (Kind Mutate, int Weight)[] kinds = seed.Format switch
        {
            FuzzFormat.Bin => Bin,
            FuzzFormat.Pth => Pth,
            _ => Safetensors,
        };
        int pick = random.Next(kinds.Sum(k => k.Weight));
        foreach ((Kind mutate, int weight) in kinds)
        {
            if (pick < weight)
                return mutate(seed, random);
            pick -= weight;
        }
        throw new InvalidOperationException("unreachable");
    }

    private static MutatedFile JsonHeader(SeedFile seed, Random random)
    {
        (byte[] bytes, string detail) = JsonHeaderMutator.Mutate(seed.Bytes, random);
        return new MutatedFile(bytes, seed.Name, new Mutation("json-header", detail));
    }
}
