namespace RwkvQuant.Kernels.Packed;

/// <summary>
/// A weight <c>[Rows, Columns]</c> in one of ggml's block formats, kept byte for byte as ggml lays it out: row-major
/// blocks of 32 consecutive values of a row (Columns is a multiple of 32), each with its FP16 scale d (and minimum m
/// for the _1 types). Within a block value j is the low nibble of <c>qs[j]</c> and value j + 16 the high nibble
/// (Q4/Q5); the fifth bit of value j is bit j of the little-endian uint32 <c>qh</c> (Q5).
/// </summary>
public sealed class PackedGgmlBlocks
{
    /// <summary>Values per block.</summary>
    public const int BlockSize = 32;

    private PackedGgmlBlocks(GgmlBlockType type, int rows, int columns, byte[] blocks)
    {
        Type = type;
        Rows = rows;
        Columns = columns;
        Blocks = blocks;
    }

    /// <summary>The block type.</summary>
    public GgmlBlockType Type { get; }

    /// <summary>Rows of W (outputs).</summary>
    public int Rows { get; }

    /// <summary>Columns of W (inputs), a multiple of <see cref="BlockSize"/>.</summary>
    public int Columns { get; }

    /// <summary>The blocks, exactly ggml's bytes.</summary>
    public byte[] Blocks { get; }

    /// <summary>Blocks in one row.</summary>
    public int BlocksPerRow => Columns / BlockSize;

    /// <summary>Bytes of one block of <see cref="Type"/>.</summary>
    public int BlockBytes => BytesPerBlock(Type);

    /// <summary>Bytes the kernels read for one product: the blocks.</summary>
    public long PackedBytes => Blocks.LongLength;

    /// <summary>Bytes of one block of <paramref name="type"/>.</summary>
    public static int BytesPerBlock(GgmlBlockType type) => type switch
    {
        GgmlBlockType.Q4_0 => 18,
        GgmlBlockType.Q4_1 => 20,
        GgmlBlockType.Q5_0 => 22,
        GgmlBlockType.Q5_1 => 24,
        GgmlBlockType.Q8_0 => 34,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not a ggml block type."),
    };

    /// <summary>Takes a copy of the stored blocks.</summary>
    /// <exception cref="ArgumentException">Columns is not a multiple of 32 or the byte count is wrong.</exception>
    public static PackedGgmlBlocks FromBlocks(GgmlBlockType type, int rows, int columns, ReadOnlySpan<byte> blocks)
    {
        int blockBytes = BytesPerBlock(type);
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        if (columns % BlockSize != 0)
            throw new ArgumentException($"{type} blocks run along a row; {columns} columns is not a multiple of {BlockSize}.", nameof(columns));
        long expected = (long)rows * (columns / BlockSize) * blockBytes;
        if (blocks.Length != expected)
            throw new ArgumentException($"[{rows}, {columns}] as {type} takes {expected} bytes, got {blocks.Length}.", nameof(blocks));
        return new PackedGgmlBlocks(type, rows, columns, blocks.ToArray());
    }
}
