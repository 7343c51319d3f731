using System.Globalization;
using System.Text;

namespace RwkvQuant.Fuzz.Mutations;

/// <summary>
/// Mutations of a checkpoint's entries with the archive rebuilt around them (sizes and CRCs right): its <c>data.pkl</c>
/// through <see cref="PickleMutator"/>, a storage's bytes changed, cut or lengthened, entries removed, duplicated or
/// renamed, the byte order changed, or the whole archive deflated.
/// </summary>
internal static class PthEntryMutations
{
    /// <summary>A mutation of <c>data.pkl</c>.</summary>
    public static MutatedFile Pickle(List<(string Name, byte[] Bytes)> entries, string seedName, Random random)
    {
        int index = entries.FindIndex(e => e.Name.EndsWith("/data.pkl", StringComparison.Ordinal));
        (byte[] pickle, string detail) = PickleMutator.Mutate(entries[index].Bytes, random);
        var changed = new List<(string, byte[])>(entries) { [index] = (entries[index].Name, pickle) };
        bool deflate = random.Next(8) == 0;
        return new MutatedFile(ZipEntries.Write(changed, deflate), seedName, new Mutation("pickle", detail + (deflate ? " (deflated)" : "")));
    }

    /// <summary>A mutation of the storages or of the set of entries.</summary>
    public static MutatedFile Entries(List<(string Name, byte[] Bytes)> entries, string seedName, Random random)
    {
        var changed = new List<(string Name, byte[] Bytes)>(entries);
        int[] storages = Enumerable.Range(0, entries.Count).Where(i => entries[i].Name.Contains("/data/", StringComparison.Ordinal)).ToArray();
        int s = storages.Length > 0 ? storages[random.Next(storages.Length)] : random.Next(entries.Count);
        (string name, byte[] bytes) = entries[s];
        int e = random.Next(entries.Count);
        string detail;
        switch (random.Next(8))
        {
            case 0:
            {
                byte[] flipped = (byte[])bytes.Clone();
                int count = random.Next(1, 9);
                for (int i = 0; i < count && flipped.Length > 0; i++)
                    flipped[random.Next(flipped.Length)] ^= (byte)random.Next(1, 256);
                if (flipped.Length >= 4 && random.Next(2) == 0)
                    BitConverter.GetBytes(random.Next(2) == 0 ? float.NaN : float.PositiveInfinity).CopyTo(flipped, random.Next(flipped.Length / 4) * 4);
                changed[s] = (name, flipped);
                detail = $"storage '{name}': bytes changed";
                break;
            }
            case 1:
            {
                int length = random.Next(Math.Max(1, bytes.Length));
                changed[s] = (name, bytes[..length]);
                detail = string.Create(CultureInfo.InvariantCulture, $"storage '{name}' cut to {length} of {bytes.Length} bytes");
                break;
            }
            case 2:
            {
                int extra = random.Next(1, 64);
                changed[s] = (name, [.. bytes, .. new byte[extra]]);
                detail = string.Create(CultureInfo.InvariantCulture, $"storage '{name}' lengthened by {extra} bytes");
                break;
            }
            case 3:
                changed.RemoveAt(e);
                detail = $"entry '{entries[e].Name}' removed";
                break;
            case 4:
                changed.Insert(e + 1, entries[e]);
                detail = $"entry '{entries[e].Name}' duplicated";
                break;
            case 5:
            {
                string renamed = random.Next(4) switch
                {
                    0 => entries[e].Name + "x",
                    1 => entries[random.Next(entries.Count)].Name,
                    2 => "other/" + entries[e].Name[(entries[e].Name.IndexOf('/', StringComparison.Ordinal) + 1)..],
                    _ => entries[e].Name.Replace("/", "/../", StringComparison.Ordinal),
                };
                changed[e] = (renamed, entries[e].Bytes);
                detail = $"entry '{entries[e].Name}' renamed '{renamed}'";
                break;
            }
            case 6:
            {
                int order = entries.FindIndex(x => x.Name.EndsWith("/byteorder", StringComparison.Ordinal));
                string value = random.Next(3) switch { 0 => "big", 1 => "", _ => new string('l', 100) };
                if (order >= 0)
                    changed[order] = (entries[order].Name, Encoding.ASCII.GetBytes(value));
                detail = $"byteorder -> '{(value.Length > 10 ? value[..10] + "…" : value)}'";
                break;
            }
            default:
                detail = "unchanged entries, deflated";
                return new MutatedFile(ZipEntries.Write(changed, deflate: true), seedName, new Mutation("zip-entries", detail));
        }
        return new MutatedFile(ZipEntries.Write(changed, random.Next(8) == 0), seedName, new Mutation(name.Contains("/data/", StringComparison.Ordinal) && detail.StartsWith("storage", StringComparison.Ordinal) ? "storage-bytes" : "zip-entries", detail));
    }
}
