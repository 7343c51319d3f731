using System.Text;
using System.Xml;

namespace RwkvQuant.Corpora;

/// <summary>
/// Reads the <c>&lt;summary&gt;</c> and <c>&lt;remarks&gt;</c> text of every <c>&lt;member&gt;</c> of a .NET XML
/// documentation file, deterministically: the inner text, with <c>&lt;see cref="T:System.String"/&gt;</c> rendered as
/// its short name (<c>String</c>), <c>&lt;see langword="null"/&gt;</c> as the word, <c>&lt;paramref name="x"/&gt;</c> and
/// <c>&lt;typeparamref name="T"/&gt;</c> as the name, <c>&lt;c&gt;</c>/<c>&lt;code&gt;</c> as their text, every other
/// element as its inner text with a space around block elements; white space collapsed to single spaces.
/// </summary>
internal static class DocumentationXmlExtractor
{
    /// <summary>Block-level elements: their text is separated from its neighbours by a space.</summary>
    private static readonly HashSet<string> BlockElements =
        new(["para", "list", "item", "term", "description", "listheader", "code", "br", "p"], StringComparer.Ordinal);

    /// <summary>(member id, text) for every member with non-empty summary or remarks, in file order.</summary>
    /// <exception cref="InvalidDataException">The file is not well-formed XML (the message names it).</exception>
    public static List<(string Member, string Text)> Extract(string path)
    {
        var result = new List<(string, string)>();
        var settings = new XmlReaderSettings
        {
            DtdProcessing = DtdProcessing.Prohibit,
            IgnoreComments = true,
            IgnoreProcessingInstructions = true,
            XmlResolver = null,
        };
        try
        {
            using XmlReader reader = XmlReader.Create(path, settings);
            while (reader.Read())
            {
                if (reader.NodeType != XmlNodeType.Element || reader.Name != "member")
                    continue;
                string? member = reader.GetAttribute("name");
                if (member is null || reader.IsEmptyElement)
                    continue;
                (string summary, string remarks) = ReadMember(reader);
                string text = remarks.Length == 0 ? summary : summary.Length == 0 ? remarks : summary + "\n" + remarks;
                if (text.Length > 0)
                    result.Add((member, text));
            }
        }
        catch (XmlException exception)
        {
            throw new InvalidDataException($"{path}: not a well-formed XML documentation file ({exception.Message}).", exception);
        }
        return result;
    }

    /// <summary>Reads one member element (the reader is on its start tag) up to its end tag.</summary>
    private static (string Summary, string Remarks) ReadMember(XmlReader reader)
    {
        string summary = "", remarks = "";
        int depth = reader.Depth;
        reader.Read();
        while (!reader.EOF && !(reader.NodeType == XmlNodeType.EndElement && reader.Depth == depth))
        {
            if (reader.NodeType == XmlNodeType.Element && reader.Depth == depth + 1 && reader.Name is "summary" or "remarks")
            {
                bool isSummary = reader.Name == "summary";
                string text = ReadInner(reader); // leaves the reader on the element's end tag (or on the empty element)
                if (isSummary)
                    summary = Join(summary, text);
                else
                    remarks = Join(remarks, text);
                reader.Read();
            }
            else if (reader.NodeType == XmlNodeType.Element && reader.Depth == depth + 1)
            {
                reader.Skip(); // <param>, <returns>, <exception>…: skipped whole; Skip already moves to the next node
            }
            else
            {
                reader.Read();
            }
        }
        return (summary, remarks);
    }

    private static string Join(string a, string b) => a.Length == 0 ? b : b.Length == 0 ? a : a + " " + b;

    /// <summary>The rendered, white-space-collapsed inner text of the element the reader is on.</summary>
    private static string ReadInner(XmlReader reader)
    {
        var text = new StringBuilder();
        if (!reader.IsEmptyElement)
        {
            int depth = reader.Depth;
            while (reader.Read() && !(reader.NodeType == XmlNodeType.EndElement && reader.Depth == depth))
            {
                switch (reader.NodeType)
                {
                    case XmlNodeType.Text or XmlNodeType.CDATA or XmlNodeType.Whitespace or XmlNodeType.SignificantWhitespace:
                        text.Append(reader.Value);
                        break;
                    case XmlNodeType.Element:
                        bool block = BlockElements.Contains(reader.Name);
                        if (block)
                            text.Append(' ');
                        if (reader.IsEmptyElement)
                            text.Append(EmptyElementText(reader));
                        break;
                    case XmlNodeType.EndElement:
                        if (BlockElements.Contains(reader.Name))
                            text.Append(' ');
                        break;
                }
            }
        }
        return Collapse(text.ToString());
    }

    /// <summary>The text an empty element such as <c>&lt;see cref="…"/&gt;</c> stands for.</summary>
    private static string EmptyElementText(XmlReader reader)
    {
        switch (reader.Name)
        {
            case "see" or "seealso":
                string? cref = reader.GetAttribute("cref");
                if (cref is not null)
                    return ShortName(cref);
                return reader.GetAttribute("langword") ?? reader.GetAttribute("href") ?? "";
            case "paramref" or "typeparamref":
                return reader.GetAttribute("name") ?? "";
            default:
                return "";
        }
    }

    /// <summary>
    /// The short name of a documentation id: <c>T:System.Collections.Generic.List`1</c> → <c>List</c>,
    /// <c>M:System.String.Join(System.String,System.String[])</c> → <c>Join</c>, <c>M:System.Text.StringBuilder.#ctor</c>
    /// → <c>StringBuilder</c>.
    /// </summary>
    internal static string ShortName(string cref)
    {
        string name = cref.Length > 2 && cref[1] == ':' ? cref[2..] : cref;
        int paren = name.IndexOf('(', StringComparison.Ordinal);
        if (paren >= 0)
            name = name[..paren];
        string[] parts = name.Split('.');
        string last = parts[^1];
        if ((last == "#ctor" || last == "#cctor") && parts.Length > 1)
            last = parts[^2];
        int tick = last.IndexOf('`', StringComparison.Ordinal);
        return tick >= 0 ? last[..tick] : last;
    }

    /// <summary>Every run of white space becomes one space; leading and trailing white space is removed.</summary>
    internal static string Collapse(string text)
    {
        var result = new StringBuilder(text.Length);
        bool space = false;
        foreach (char c in text)
        {
            if (char.IsWhiteSpace(c))
            {
                space = result.Length > 0;
                continue;
            }
            if (space)
                result.Append(' ');
            space = false;
            result.Append(c);
        }
        return result.ToString();
    }
}
