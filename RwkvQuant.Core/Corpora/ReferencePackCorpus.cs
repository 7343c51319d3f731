using System.Runtime.InteropServices;
using System.Text;

namespace RwkvQuant.Corpora;

/// <summary>
/// English text that exists on every machine with the .NET SDK: the <c>&lt;summary&gt;</c> and <c>&lt;remarks&gt;</c>
/// documentation of the reference pack (<c>&lt;dotnet root&gt;/packs/Microsoft.NETCore.App.Ref/&lt;version&gt;/ref/net10.0/*.xml</c>),
/// one document per API member, extracted deterministically (files in ordinal order, members in file order, exact
/// duplicate texts kept once, at their first member). Each member goes to a <see cref="CorpusSplit"/> by a stable
/// hash of its documentation id (64-bit FNV-1a of its UTF-8 bytes, modulo 1000: 0–899 train, 900–939 validation,
/// 940–969 calibration, 970–999 evaluation), so the splits are disjoint and the same on every machine with the same
/// reference pack. Immutable.
/// </summary>
public sealed class ReferencePackCorpus
{
    /// <summary>The target framework folder the documentation is read from.</summary>
    public const string TargetFramework = "net10.0";

    /// <summary>The major version of the reference packs that are looked for.</summary>
    public const int PackMajorVersion = 10;

    private readonly CorpusDocument[] _documents;

    private ReferencePackCorpus(string source, CorpusDocument[] documents)
    {
        Source = source;
        _documents = documents;
    }

    /// <summary>The folder (or, for <see cref="FromFiles"/>, the first file) the documents were read from.</summary>
    public string Source { get; }

    /// <summary>All documents, in extraction order.</summary>
    public IReadOnlyList<CorpusDocument> Documents => _documents;

    /// <summary>Total UTF-8 size of all document texts, in bytes.</summary>
    public long ByteCount => _documents.Sum(d => (long)Encoding.UTF8.GetByteCount(d.Text));

    /// <summary>The texts of the documents in <paramref name="split"/>, in extraction order (a TextCorpus-like document list).</summary>
    public IReadOnlyList<string> Texts(CorpusSplit split) =>
        _documents.Where(d => d.Split == split).Select(d => d.Text).ToArray();

    /// <summary>
    /// Reads the reference pack's documentation from <paramref name="directory"/> (a <c>ref/net10.0</c> folder of
    /// <c>*.xml</c> files), or, when it is null, from the pack <see cref="FindReferencePackDirectory"/> locates.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">No reference pack was found (the message says where it looked).</exception>
    /// <exception cref="InvalidDataException">A documentation file is not well-formed XML (the message names it).</exception>
    public static ReferencePackCorpus Load(string? directory = null, CancellationToken cancellationToken = default)
    {
        directory ??= FindReferencePackDirectory()
            ?? throw new DirectoryNotFoundException(
                $"No .NET {PackMajorVersion} reference pack with XML documentation was found (looked under {string.Join(", ", DotNetRootCandidates())}). " +
                $"Install the .NET {PackMajorVersion} SDK, or set DOTNET_ROOT to its folder.");
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"The reference pack folder '{directory}' does not exist.");
        string[] files = Directory.GetFiles(directory, "*.xml");
        if (files.Length == 0)
            throw new DirectoryNotFoundException($"The reference pack folder '{directory}' has no XML documentation files.");
        ReferencePackCorpus corpus = FromFiles(files, cancellationToken);
        return new ReferencePackCorpus(directory, corpus._documents);
    }

    /// <summary>Reads the given documentation files (taken in ordinal order of their file names, whatever the order given).</summary>
    /// <exception cref="ArgumentException">No file was given.</exception>
    /// <exception cref="InvalidDataException">A file is not well-formed XML (the message names it).</exception>
    public static ReferencePackCorpus FromFiles(IEnumerable<string> files, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(files);
        string[] ordered = files.OrderBy(Path.GetFileName, StringComparer.Ordinal).ThenBy(f => f, StringComparer.Ordinal).ToArray();
        if (ordered.Length == 0)
            throw new ArgumentException("No documentation file was given.", nameof(files));
        var documents = new List<CorpusDocument>();
        var seenTexts = new HashSet<string>(StringComparer.Ordinal);
        var seenMembers = new HashSet<string>(StringComparer.Ordinal);
        foreach (string file in ordered)
        {
            cancellationToken.ThrowIfCancellationRequested();
            foreach ((string member, string text) in DocumentationXmlExtractor.Extract(file))
            {
                // A member documented in two files, or two members with the same text (overloads), is kept once:
                // the same text must never be both trained on and held out.
                if (seenMembers.Add(member) && seenTexts.Add(text))
                    documents.Add(new CorpusDocument(member, text, SplitOf(member)));
            }
        }
        return new ReferencePackCorpus(ordered[0], documents.ToArray());
    }

    /// <summary>The split of the member with documentation id <paramref name="member"/> (stable across runs and machines).</summary>
    public static CorpusSplit SplitOf(string member)
    {
        ArgumentNullException.ThrowIfNull(member);
        ulong hash = 14695981039346656037UL; // FNV-1a 64
        foreach (byte b in Encoding.UTF8.GetBytes(member))
        {
            hash ^= b;
            hash *= 1099511628211UL;
        }
        return (hash % 1000) switch
        {
            < 900 => CorpusSplit.Train,
            < 940 => CorpusSplit.Validation,
            < 970 => CorpusSplit.Calibration,
            _ => CorpusSplit.Evaluation,
        };
    }

    /// <summary>
    /// The <c>ref/net10.0</c> folder of the highest 10.x <c>Microsoft.NETCore.App.Ref</c> pack that has XML
    /// documentation, under the first of these .NET roots that has one: <c>DOTNET_ROOT</c>; the folder of the
    /// <c>dotnet</c> on <c>PATH</c>, symbolic links resolved; the running runtime's root (three folders above
    /// <c>System.Private.CoreLib</c>). Null when none has.
    /// </summary>
    public static string? FindReferencePackDirectory()
    {
        foreach (string root in DotNetRootCandidates())
        {
            string packs = Path.Combine(root, "packs", "Microsoft.NETCore.App.Ref");
            if (!Directory.Exists(packs))
                continue;
            string? best = null;
            Version? bestVersion = null;
            foreach (string versionDirectory in Directory.GetDirectories(packs))
            {
                if (!TryParsePackVersion(Path.GetFileName(versionDirectory), out Version? version) || version.Major != PackMajorVersion)
                    continue;
                string docs = Path.Combine(versionDirectory, "ref", TargetFramework);
                if (!Directory.Exists(docs) || Directory.GetFiles(docs, "*.xml").Length == 0)
                    continue;
                if (bestVersion is null || version > bestVersion
                    || (version == bestVersion && string.CompareOrdinal(versionDirectory, best) > 0))
                {
                    best = docs;
                    bestVersion = version;
                }
            }
            if (best is not null)
                return best;
        }
        return null;
    }

    /// <summary>"10.0.12" or "10.0.0-rc.1.25451.107" → its numeric part.</summary>
    private static bool TryParsePackVersion(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Version? version)
    {
        int dash = name.IndexOf('-', StringComparison.Ordinal);
        return Version.TryParse(dash >= 0 ? name[..dash] : name, out version);
    }

    /// <summary>The folders that may be the .NET root, in the order they are tried, without duplicates.</summary>
    private static List<string> DotNetRootCandidates()
    {
        var candidates = new List<string>();
        void Add(string? path)
        {
            if (string.IsNullOrWhiteSpace(path))
                return;
            try
            {
                string full = Path.GetFullPath(path);
                if (!candidates.Contains(full, StringComparer.Ordinal))
                    candidates.Add(full);
            }
            catch (Exception exception) when (exception is ArgumentException or IOException or NotSupportedException or UnauthorizedAccessException)
            {
                // not a usable path; ignore it
            }
        }

        Add(Environment.GetEnvironmentVariable("DOTNET_ROOT"));
        Add(DotNetOnPath());
        string runtime = RuntimeEnvironment.GetRuntimeDirectory(); // <root>/shared/Microsoft.NETCore.App/<version>/
        Add(Path.Combine(runtime, "..", "..", ".."));
        string coreLib = typeof(object).Assembly.Location;
        if (coreLib.Length > 0)
            Add(Path.Combine(Path.GetDirectoryName(coreLib)!, "..", "..", ".."));
        return candidates;
    }

    /// <summary>The folder of the <c>dotnet</c> executable found on <c>PATH</c>, symbolic links resolved; null when none.</summary>
    private static string? DotNetOnPath()
    {
        string executable = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            try
            {
                string candidate = Path.Combine(directory, executable);
                if (!File.Exists(candidate))
                    continue;
                FileSystemInfo? target = File.ResolveLinkTarget(candidate, returnFinalTarget: true);
                return Path.GetDirectoryName(target?.FullName ?? Path.GetFullPath(candidate));
            }
            catch (Exception exception) when (exception is ArgumentException or IOException or UnauthorizedAccessException)
            {
                // an unreadable PATH entry; try the next
            }
        }
        return null;
    }
}
