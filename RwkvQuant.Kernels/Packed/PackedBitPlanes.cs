namespace RwkvQuant.Kernels.Packed;

/// <summary>
/// A group-scalar weight re-laid for the table-lookup product (<c>BitPlaneMatVec</c>): the same codes, scales and zeros as
/// a <see cref="PackedGroupScalar"/>, with rows in blocks of <see cref="RowBlock"/> and storage columns in blocks of
/// <see cref="ColumnBlock"/>, each code split into its b bit planes.
/// <para>
/// <see cref="Planes"/> is <c>[RowBlocks, ColumnBlocks, Bits, 16]</c> bytes: for row block R, column block C and plane p,
/// byte r holds bit p of the codes of row 16R + r at storage columns 8C … 8C + 7 (bit i for column 8C + i). Rows past
/// <see cref="Rows"/> and columns past <see cref="Columns"/> hold code 0.
/// </para>
/// <para>
/// <see cref="GroupParameters"/> is <c>[RowBlocks, GroupsPerRow]</c> blocks of 16-bit words: the 16 rows' scales, then,
/// unless symmetric, their 16 zeros (each value <see cref="ScaleWords.WordsPerValue"/> words, rows past the end 0).
/// Groups are whole column blocks (<see cref="GroupSize"/> a multiple of 8). The bytes are those of the source layout
/// up to the padding of the last row and column blocks.
/// </para>
/// </summary>
public sealed class PackedBitPlanes
{
    /// <summary>Rows per row block: one 512-bit vector of float32 lanes.</summary>
    public const int RowBlock = 16;

    /// <summary>Storage columns per column block: one byte of a bit plane.</summary>
    public const int ColumnBlock = 8;

    private PackedBitPlanes(PackedGroupScalar source, byte[] planes, ushort[] parameters)
    {
        Rows = source.Rows;
        Columns = source.Columns;
        Bits = source.Bits;
        GroupSize = source.GroupSize;
        Symmetric = source.Symmetric;
        Format = source.Format;
        Permutation = source.Permutation;
        Planes = planes;
        GroupParameters = parameters;
    }

    /// <summary>Rows of W.</summary>
    public int Rows { get; }

    /// <summary>Columns of W.</summary>
    public int Columns { get; }

    /// <summary>Bits per code b, 2–8: the planes per column block.</summary>
    public int Bits { get; }

    /// <summary>Consecutive storage columns sharing (s, z), a multiple of <see cref="ColumnBlock"/>.</summary>
    public int GroupSize { get; }

    /// <summary>True when z = 2^(b−1) and only scales are stored.</summary>
    public bool Symmetric { get; }

    /// <summary>How scales and zeros are stored.</summary>
    public ScaleFormat Format { get; }

    /// <summary>Storage column k holds original column <c>Permutation[k]</c>; null for the identity.</summary>
    public int[]? Permutation { get; }

    /// <summary>The bit planes, <c>[RowBlocks, ColumnBlocks, Bits, 16]</c>.</summary>
    public byte[] Planes { get; }

    /// <summary>Per (row block, group): 16 scales' words, then 16 zeros' words unless symmetric.</summary>
    public ushort[] GroupParameters { get; }

    /// <summary>Blocks of 16 rows, the last one padded.</summary>
    public int RowBlocks => (Rows + RowBlock - 1) / RowBlock;

    /// <summary>Blocks of 8 storage columns, the last one padded.</summary>
    public int ColumnBlocks => (Columns + ColumnBlock - 1) / ColumnBlock;

    /// <summary>Groups per row; the last may be shorter.</summary>
    public int GroupsPerRow => (Columns + GroupSize - 1) / GroupSize;

    /// <summary>Words of one (row block, group): 16 values of scale, and of zero unless symmetric.</summary>
    public int BlockParameterWords => RowBlock * ScaleWords.WordsPerValue(Format) * (Symmetric ? 1 : 2);

    /// <summary>The value z of a symmetric grid, 2^(b−1).</summary>
    public float SymmetricZero => 1 << (Bits - 1);

    /// <summary>Bytes the kernel reads for one product: planes, parameters and the permutation.</summary>
    public long PackedBytes => Planes.LongLength + 2L * GroupParameters.LongLength + 4L * (Permutation?.LongLength ?? 0);

    /// <summary>True when weights with groups of <paramref name="groupSize"/> columns can take this layout.</summary>
    public static bool Fits(int groupSize) => groupSize % ColumnBlock == 0;

    /// <summary>The code at (<paramref name="row"/>, storage column <paramref name="column"/>), read back from the planes.</summary>
    public int Code(int row, int column)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        ArgumentOutOfRangeException.ThrowIfNegative(column);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(column, Columns);
        long first = ((long)(row / RowBlock) * ColumnBlocks + column / ColumnBlock) * Bits * RowBlock + row % RowBlock;
        int code = 0;
        for (int plane = 0; plane < Bits; plane++)
            code |= (Planes[first + plane * RowBlock] >> (column % ColumnBlock) & 1) << plane;
        return code;
    }

    /// <summary>The scale of (<paramref name="row"/>, <paramref name="group"/>), read back from the row block's parameters.</summary>
    public float Scale(int row, int group) => ScaleWords.Decode(GroupParameters, ParameterIndex(row, group, 0), Format);

    /// <summary>The zero of (<paramref name="row"/>, <paramref name="group"/>): 2^(b−1) when symmetric.</summary>
    public float Zero(int row, int group) => Symmetric ? SymmetricZero : ScaleWords.Decode(GroupParameters, ParameterIndex(row, group, 1), Format);

    /// <summary>Where value <paramref name="value"/> (0 scale, 1 zero) of (row, group) starts in <see cref="GroupParameters"/>.</summary>
    private int ParameterIndex(int row, int group, int value)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        ArgumentOutOfRangeException.ThrowIfNegative(group);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(group, GroupsPerRow);
        int valueWords = ScaleWords.WordsPerValue(Format);
        return checked(((row / RowBlock) * GroupsPerRow + group) * BlockParameterWords + (value * RowBlock + row % RowBlock) * valueWords);
    }

    /// <summary>Re-lays <paramref name="source"/> in bit planes, its row blocks shared out among up to
    /// <paramref name="threads"/> threads (the engine passes its product threads: repacking is most of the time an
    /// engine takes to load a large model). The result does not depend on the thread count.</summary>
    /// <exception cref="ArgumentException">The group size is not a multiple of <see cref="ColumnBlock"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is below 1.</exception>
    public static PackedBitPlanes From(PackedGroupScalar source, int threads = 1)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        if (!Fits(source.GroupSize))
            throw new ArgumentException($"Bit planes need groups of a multiple of {ColumnBlock} columns, got {source.GroupSize}.", nameof(source));
        int bits = source.Bits, columnBlocks = (source.Columns + ColumnBlock - 1) / ColumnBlock;
        int rowBlocks = (source.Rows + RowBlock - 1) / RowBlock;
        var planes = new byte[checked((long)rowBlocks * columnBlocks * bits * RowBlock)];
        // Row blocks are independent (each writes its own bytes).
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads };
        Parallel.For(0, rowBlocks, options, () => new float[columnBlocks * ColumnBlock], (rowBlock, _, codes) => // past the last column: code 0
        {
            int last = Math.Min(source.Rows, (rowBlock + 1) * RowBlock);
            for (int row = rowBlock * RowBlock; row < last; row++)
            {
                RowAlignedCodes.DecodeRow(source.Codes.AsSpan(row * source.RowBytes, source.RowBytes), bits, codes.AsSpan(0, source.Columns));
                long blockStart = (long)rowBlock * columnBlocks * bits * RowBlock + row % RowBlock;
                for (int block = 0; block < columnBlocks; block++)
                {
                    // Eight codes as the bytes of a word; bit p of each byte gathered into one byte by a multiply
                    // (the eight products land on disjoint bits of the top byte, so nothing carries).
                    ulong eight = 0;
                    for (int i = 0; i < ColumnBlock; i++)
                        eight |= (ulong)codes[block * ColumnBlock + i] << (8 * i);
                    long target = blockStart + (long)block * bits * RowBlock;
                    for (int plane = 0; plane < bits; plane++)
                        planes[target + plane * RowBlock] = (byte)(((eight >> plane) & 0x0101_0101_0101_0101ul) * 0x0102_0408_1020_4080ul >> 56);
                }
            }
            return codes;
        }, _ => { });
        return new PackedBitPlanes(source, planes, Parameters(source, rowBlocks));
    }

    /// <summary>The source's per-(row, group) words regrouped per (row block, group): 16 scales, then 16 zeros.</summary>
    private static ushort[] Parameters(PackedGroupScalar source, int rowBlocks)
    {
        int groups = source.GroupsPerRow, valueWords = ScaleWords.WordsPerValue(source.Format);
        int values = source.Symmetric ? 1 : 2, sourceWords = source.ParameterWords;
        int blockWords = RowBlock * valueWords * values;
        var result = new ushort[checked((long)rowBlocks * groups * blockWords)];
        for (int row = 0; row < source.Rows; row++)
        {
            for (int g = 0; g < groups; g++)
            {
                long from = ((long)row * groups + g) * sourceWords;
                long block = ((long)(row / RowBlock) * groups + g) * blockWords;
                for (int v = 0; v < values; v++)
                    for (int w = 0; w < valueWords; w++)
                        result[block + (v * RowBlock + row % RowBlock) * valueWords + w] = source.GroupParameters[from + v * valueWords + w];
            }
        }
        return result;
    }
}
