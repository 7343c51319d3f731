namespace RwkvQuant.Kernels.Packed;

/// <summary>
/// A weight <c>[Rows, Columns]</c> in one of llama.cpp's k-quant or IQ4 formats (<see cref="KQuantType"/>), kept byte for
/// byte as ggml lays it out: row-major blocks of <see cref="KQuantTypes.ValuesPerBlock"/> consecutive values of a row
/// (Columns is a multiple of it), each block self-contained.
/// </summary>
public sealed class PackedKQuantBlocks
{
    private PackedKQuantBlocks(KQuantType type, int rows, int columns, byte[] blocks)
    {
        Type = type;
        Rows = rows;
        Columns = columns;
        Blocks = blocks;
    }

    /// <summary>The block format.</summary>
    public KQuantType Type { get; }

    /// <summary>Rows of W (outputs).</summary>
    public int Rows { get; }

    /// <summary>Columns of W (inputs), a multiple of <see cref="BlockValues"/>.</summary>
    public int Columns { get; }

    /// <summary>The blocks, exactly ggml's bytes.</summary>
    public byte[] Blocks { get; }

    /// <summary>Values of one block.</summary>
    public int BlockValues => Type.ValuesPerBlock();

    /// <summary>Bytes of one block.</summary>
    public int BlockBytes => Type.BytesPerBlock();

    /// <summary>Blocks in one row.</summary>
    public int BlocksPerRow => Columns / BlockValues;

    /// <summary>Bytes of one row.</summary>
    public int RowBytes => BlocksPerRow * BlockBytes;

    /// <summary>Bytes the kernels read for one product: the blocks.</summary>
    public long PackedBytes => Blocks.LongLength;

    /// <summary>Takes a copy of the stored blocks.</summary>
    /// <exception cref="ArgumentException">Columns is not a multiple of the block or the byte count is wrong.</exception>
    public static PackedKQuantBlocks FromBlocks(KQuantType type, int rows, int columns, ReadOnlySpan<byte> blocks)
    {
        int values = type.ValuesPerBlock();
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        if (columns % values != 0)
            throw new ArgumentException($"{type} blocks run along a row; {columns} columns is not a multiple of {values}.", nameof(columns));
        long expected = (long)rows * (columns / values) * type.BytesPerBlock();
        if (blocks.Length != expected)
            throw new ArgumentException($"[{rows}, {columns}] as {type} takes {expected} bytes, got {blocks.Length}.", nameof(blocks));
        return new PackedKQuantBlocks(type, rows, columns, blocks.ToArray());
    }
}
