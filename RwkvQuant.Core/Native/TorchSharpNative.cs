using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace RwkvQuant.Native;

/// <summary>
/// Makes TorchSharp's native library loadable on Linux systems whose libstdc++ predates GCC 13.
/// </summary>
/// <remarks>
/// TorchSharp 0.107.0's <c>libLibTorchSharp.so</c> declares a need for <c>GLIBCXX_3.4.32</c> for a single
/// symbol (<c>std::ios_base_library_init()</c>) that GCC 13 references from <c>&lt;iostream&gt;</c> and never
/// calls. On a system whose libstdc++ stops at an older version (Debian 12: 3.4.30) the dynamic loader refuses
/// the library. Marking that one version requirement weak (<c>VER_FLG_WEAK</c> in its <c>vna_flags</c>) lets the
/// loader accept it. This class does that, once per process, to the copy of the library that the application
/// loads (its output or publish folder, never the NuGet cache), and only when the libstdc++ the process runs
/// on lacks <c>GLIBCXX_3.4.32</c>. It runs automatically when RwkvQuant.Core is first used.
/// </remarks>
public static class TorchSharpNative
{
    private const string LibraryFileName = "libLibTorchSharp.so";
    private const string MissingVersion = "GLIBCXX_3.4.32";
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlagWeak = 0x2;

    private static readonly object Gate = new();
    private static string? _outcome;

    /// <summary>What <see cref="EnsureLoadable"/> did in this process (for diagnostics), or null before it ran.</summary>
    public static string? Outcome => _outcome;

#pragma warning disable CA2255 // A library module initializer is the point: it must run before any TorchSharp call.
    [ModuleInitializer]
    internal static void Initialize() => EnsureLoadable();
#pragma warning restore CA2255

    /// <summary>
    /// Patches the application's copy of <c>libLibTorchSharp.so</c> if, and only if, this is Linux and the
    /// process's libstdc++ lacks <c>GLIBCXX_3.4.32</c>. Safe to call any number of times; never throws
    /// (a failure is reported through <see cref="Outcome"/> and TorchSharp's own load error then follows).
    /// </summary>
    public static void EnsureLoadable()
    {
        lock (Gate)
        {
            if (_outcome is not null)
                return;
            try
            {
                _outcome = Run();
            }
#pragma warning disable CA1031 // Never fail start-up here: TorchSharp reports its own, more familiar error.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _outcome = $"failed: {ex.GetType().Name}: {ex.Message}";
            }
        }
    }

    private static string Run()
    {
        if (!OperatingSystem.IsLinux())
            return "not Linux: nothing to do";
        string? libstdcxx = FindLoadedLibStdCxx();
        if (libstdcxx is null)
            return "libstdc++ not found in this process: nothing to do";
        if (ProvidesVersion(libstdcxx, MissingVersion))
            return $"{libstdcxx} provides {MissingVersion}: nothing to do";

        var results = new List<string>();
        foreach (string candidate in CandidateLibraryPaths())
        {
            byte[] image = File.ReadAllBytes(candidate);
            int changed = MarkVersionNeedWeak(image, MissingVersion);
            if (changed == 0)
            {
                results.Add($"{candidate}: already loadable");
                continue;
            }
            // Replace atomically so that a concurrent process never sees a half-written library.
            string temporary = $"{candidate}.{Environment.ProcessId}.tmp";
            File.WriteAllBytes(temporary, image);
            File.Move(temporary, candidate, overwrite: true);
            results.Add($"{candidate}: marked {MissingVersion} weak");
        }
        return results.Count == 0 ? $"{LibraryFileName} not found next to the application" : string.Join("; ", results);
    }

    private static IEnumerable<string> CandidateLibraryPaths()
    {
        var directories = new List<string>();
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string searchPath)
            directories.AddRange(searchPath.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        string baseDirectory = AppContext.BaseDirectory;
        directories.Add(baseDirectory);
        directories.Add(Path.Combine(baseDirectory, "runtimes", "linux-x64", "native"));
        // TorchSharp's own fallback consolidates the natives into a "cpu" folder beside TorchSharp.dll.
        directories.Add(Path.Combine(baseDirectory, "cpu"));

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string directory in directories)
        {
            string path = Path.GetFullPath(Path.Combine(directory, LibraryFileName));
            if (seen.Add(path) && File.Exists(path))
                yield return path;
        }
    }

    private static string? FindLoadedLibStdCxx()
    {
        const string maps = "/proc/self/maps";
        if (File.Exists(maps))
        {
            foreach (string line in File.ReadLines(maps))
            {
                int slash = line.IndexOf('/', StringComparison.Ordinal);
                if (slash >= 0 && line.AsSpan(slash).EndsWith("/libstdc++.so.6", StringComparison.Ordinal) ||
                    slash >= 0 && line.Contains("/libstdc++.so.6.", StringComparison.Ordinal))
                    return line[slash..].Trim();
            }
        }
        foreach (string path in new[] { "/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6" })
        {
            if (File.Exists(path))
                return path;
        }
        return null;
    }

    /// <summary>
    /// True when the shared library at <paramref name="path"/> names the symbol version <paramref name="version"/>
    /// (as a NUL-terminated string of its dynamic string table, where version definitions live).
    /// </summary>
    internal static bool ProvidesVersion(string path, string version)
    {
        byte[] needle = Encoding.ASCII.GetBytes(version + "\0");
        return File.ReadAllBytes(path).AsSpan().IndexOf(needle) >= 0;
    }

    /// <summary>
    /// Sets <c>VER_FLG_WEAK</c> on every <c>Elf64_Vernaux</c> entry of the image's <c>.gnu.version_r</c> section
    /// whose name is <paramref name="versionName"/> and that is not weak yet. Returns the number of entries changed.
    /// </summary>
    /// <exception cref="InvalidDataException">The image is not a well-formed little-endian ELF64 file.</exception>
    internal static int MarkVersionNeedWeak(Span<byte> image, string versionName)
    {
        if (image.Length < 64 || image[0] != 0x7f || image[1] != (byte)'E' || image[2] != (byte)'L' || image[3] != (byte)'F')
            throw new InvalidDataException("Not an ELF file.");
        if (image[4] != 2 || image[5] != 1)
            throw new InvalidDataException("Only little-endian ELF64 files are supported.");

        ulong sectionHeaderOffset = BinaryPrimitives.ReadUInt64LittleEndian(image[0x28..]);
        int sectionHeaderSize = BinaryPrimitives.ReadUInt16LittleEndian(image[0x3A..]);
        int sectionCount = BinaryPrimitives.ReadUInt16LittleEndian(image[0x3C..]);
        byte[] wanted = Encoding.ASCII.GetBytes(versionName);
        int changed = 0;

        for (int i = 0; i < sectionCount; i++)
        {
            Span<byte> header = Slice(image, sectionHeaderOffset + (ulong)(i * sectionHeaderSize), 64);
            if (BinaryPrimitives.ReadUInt32LittleEndian(header[4..]) != ShtGnuVerneed)
                continue;
            ulong needOffset = BinaryPrimitives.ReadUInt64LittleEndian(header[0x18..]);
            uint linkedSection = BinaryPrimitives.ReadUInt32LittleEndian(header[0x28..]);
            Span<byte> stringsHeader = Slice(image, sectionHeaderOffset + (ulong)(linkedSection * sectionHeaderSize), 64);
            ulong stringsOffset = BinaryPrimitives.ReadUInt64LittleEndian(stringsHeader[0x18..]);

            // Elf64_Verneed { u16 vn_version, u16 vn_cnt, u32 vn_file, u32 vn_aux, u32 vn_next }
            for (ulong need = needOffset; ; )
            {
                Span<byte> verneed = Slice(image, need, 16);
                int auxCount = BinaryPrimitives.ReadUInt16LittleEndian(verneed[2..]);
                ulong aux = need + BinaryPrimitives.ReadUInt32LittleEndian(verneed[8..]);
                for (int k = 0; k < auxCount; k++)
                {
                    // Elf64_Vernaux { u32 vna_hash, u16 vna_flags, u16 vna_other, u32 vna_name, u32 vna_next }
                    Span<byte> vernaux = Slice(image, aux, 16);
                    ulong name = stringsOffset + BinaryPrimitives.ReadUInt32LittleEndian(vernaux[8..]);
                    Span<byte> nameBytes = Slice(image, name, (ulong)wanted.Length + 1);
                    ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(vernaux[4..]);
                    if (nameBytes[..wanted.Length].SequenceEqual(wanted) && nameBytes[wanted.Length] == 0 && (flags & VerFlagWeak) == 0)
                    {
                        BinaryPrimitives.WriteUInt16LittleEndian(vernaux[4..], (ushort)(flags | VerFlagWeak));
                        changed++;
                    }
                    uint nextAux = BinaryPrimitives.ReadUInt32LittleEndian(vernaux[12..]);
                    if (nextAux == 0)
                        break;
                    aux += nextAux;
                }
                uint next = BinaryPrimitives.ReadUInt32LittleEndian(verneed[12..]);
                if (next == 0)
                    break;
                need += next;
            }
        }
        return changed;
    }

    private static Span<byte> Slice(Span<byte> image, ulong offset, ulong length)
    {
        if (offset > (ulong)image.Length || length > (ulong)image.Length - offset)
            throw new InvalidDataException($"ELF structure at offset {offset} (+{length}) lies outside the file ({image.Length} bytes).");
        return image.Slice((int)offset, (int)length);
    }
}
