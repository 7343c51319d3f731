using System.CommandLine;
using RwkvQuant.Models;
using RwkvQuant.Tokenizers;

namespace RwkvQuant.Cli;

/// <summary>The <c>--encoding</c> and <c>--vocab</c> options and the tokenizer they select.</summary>
internal sealed class TokenizerChoice
{
    public Option<string?> Encoding { get; } = new("--encoding")
    {
        Description = "How text becomes tokens: utf8 or utf16le (one token per byte; the v6 fixtures want utf16le), or world (RWKV World vocabulary, needs --vocab). Default: utf8 for byte-level models, world otherwise.",
    };

    public Option<FileInfo?> Vocabulary { get; } = new("--vocab")
    {
        Description = "The RWKV World vocabulary file (rwkv_vocab_v20230424.txt) for --encoding world.",
    };

    public TokenizerChoice() => Encoding.AcceptOnlyFromAmong("utf8", "utf16le", "world");

    public void AddTo(Command command)
    {
        command.Add(Encoding);
        command.Add(Vocabulary);
    }

    public ITokenizer Create(ParseResult parse, RwkvConfig config)
    {
        string encoding = parse.GetValue(Encoding) ?? (config.VocabularySize == 256 ? "utf8" : "world");
        if (encoding != "world" && parse.GetValue(Vocabulary) is not null)
            throw new ArgumentException($"--vocab is the World tokenizer's vocabulary, but the encoding is {encoding}; drop --vocab or pass --encoding world.");
        ITokenizer tokenizer = encoding switch
        {
            "utf8" => ByteTokenizer.Instance,
            "utf16le" => Utf16LeByteTokenizer.Instance,
            _ => WorldTokenizer.Load(parse.GetValue(Vocabulary)?.FullName
                ?? throw new ArgumentException("--encoding world needs the vocabulary file: pass --vocab rwkv_vocab_v20230424.txt.")),
        };
        if (tokenizer.VocabularySize > config.VocabularySize)
            throw new ArgumentException($"The {encoding} tokenizer has {tokenizer.VocabularySize} tokens but the model's vocabulary is {config.VocabularySize}; pick the encoding the model was trained with.");
        return tokenizer;
    }
}
