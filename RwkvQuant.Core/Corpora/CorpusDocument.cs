namespace RwkvQuant.Corpora;

/// <summary>One document of a <see cref="ReferencePackCorpus"/>: the documentation text of one API member.</summary>
/// <param name="Member">The member's documentation id, e.g. <c>M:System.String.Trim</c>.</param>
/// <param name="Text">Its <c>&lt;summary&gt;</c> text, then (on a new line) its <c>&lt;remarks&gt;</c> text when it has any.</param>
/// <param name="Split">The split the member's name hashes to.</param>
public sealed record CorpusDocument(string Member, string Text, CorpusSplit Split);
