using RwkvQuant.Fuzz.Layouts;

namespace RwkvQuant.Fuzz.Mutations;

/// <summary>Whole-record mutations of an rwkv.cpp file: a record removed, duplicated, or two records swapped.</summary>
internal static class GgmlRecordMutations
{
    /// <summary>Applies one record mutation to <paramref name="seed"/> whose records are <paramref name="records"/>.</summary>
    public static MutatedFile Apply(byte[] seed, string seedName, IReadOnlyList<GgmlLayout.Record> records, Random random)
    {
        int first = random.Next(records.Count);
        GgmlLayout.Record a = records[first];
        GgmlLayout.Record b = records[(first + random.Next(1, Math.Max(2, records.Count))) % records.Count];
        var output = new List<byte>(seed.Length + (int)a.Length);
        string detail;
        switch (a == b ? random.Next(2) : random.Next(3))
        {
            case 0:
                output.AddRange(seed.AsSpan(0, (int)a.Start));
                output.AddRange(seed.AsSpan((int)(a.Start + a.Length)));
                detail = $"removed '{a.Name}'";
                break;
            case 1:
                output.AddRange(seed.AsSpan(0, (int)(a.Start + a.Length)));
                output.AddRange(seed.AsSpan((int)a.Start, (int)a.Length));
                output.AddRange(seed.AsSpan((int)(a.Start + a.Length)));
                detail = $"duplicated '{a.Name}'";
                break;
            default:
                // Each record's bytes replaced by the other's, in place of each: the shapes and names travel with them.
                if (a.Start > b.Start)
                    (a, b) = (b, a);
                output.AddRange(seed.AsSpan(0, (int)a.Start));
                output.AddRange(seed.AsSpan((int)b.Start, (int)b.Length));
                output.AddRange(seed.AsSpan((int)(a.Start + a.Length), (int)(b.Start - a.Start - a.Length)));
                output.AddRange(seed.AsSpan((int)a.Start, (int)a.Length));
                output.AddRange(seed.AsSpan((int)(b.Start + b.Length)));
                detail = $"swapped '{a.Name}' and '{b.Name}'";
                break;
        }
        return new MutatedFile([.. output], seedName, new Mutation("ggml-record", detail));
    }
}
