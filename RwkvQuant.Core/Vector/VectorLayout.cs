namespace RwkvQuant.Vector;

/// <summary>
/// The geometry of a vector-quantized weight <c>[Rows, Columns]</c>: codebook groups of <see cref="GroupRows"/> rows ×
/// <see cref="GroupColumns"/> columns (partial groups at the bottom and right edges), inside a group vectors of
/// <see cref="Dimension"/> consecutive columns of one row, each coded by <see cref="Bits"/> bits (2^Bits centroids).
/// Groups are numbered row-major: g = (row / GroupRows) · ColumnGroups + column / GroupColumns. Codes are numbered
/// row-major over the vectors: code (row, v) for columns [v·d, v·d + d).
/// </summary>
internal readonly record struct VectorLayout(int Rows, int Columns, int Dimension, int Bits, int GroupRows, int GroupColumns)
{
    /// <summary>Checks that the layout describes a matrix it can partition.</summary>
    /// <exception cref="ArgumentException">Columns or the group width are not multiples of the dimension.</exception>
    public void Validate(string tensorName)
    {
        if (Rows < 1 || Columns < 1)
            throw new ArgumentException($"Tensor '{tensorName}' has shape [{Rows}, {Columns}]; vector quantization needs a non-empty 2-D weight.");
        if (Dimension < 1 || GroupColumns % Dimension != 0)
            throw new ArgumentException($"Group width {GroupColumns} is not a multiple of the vector dimension {Dimension}.");
        if (Columns % Dimension != 0)
            throw new ArgumentException($"Tensor '{tensorName}' has {Columns} columns, not a multiple of the vector dimension {Dimension}; vectors of {Dimension} consecutive columns would be cut at the edge.");
        if (Bits is < 1 or > 16)
            throw new ArgumentException($"Codes have 1 to 16 bits, got {Bits}.");
    }

    /// <summary>Centroids per codebook, 2^Bits.</summary>
    public int Entries => 1 << Bits;

    /// <summary>Floats per codebook, 2^Bits · Dimension.</summary>
    public int CodebookLength => Entries * Dimension;

    /// <summary>Number of row groups, ⌈Rows / GroupRows⌉.</summary>
    public int RowGroups => (Rows + GroupRows - 1) / GroupRows;

    /// <summary>Number of column groups, ⌈Columns / GroupColumns⌉.</summary>
    public int ColumnGroups => (Columns + GroupColumns - 1) / GroupColumns;

    /// <summary>Number of codebooks.</summary>
    public int Groups => RowGroups * ColumnGroups;

    /// <summary>Vectors (codes) per row, Columns / Dimension.</summary>
    public int VectorsPerRow => Columns / Dimension;

    /// <summary>Number of codes, Rows · Columns / Dimension.</summary>
    public long CodeCount => (long)Rows * VectorsPerRow;

    /// <summary>The codebook of the vector starting at (row, column).</summary>
    public int GroupOf(int row, int column) => row / GroupRows * ColumnGroups + column / GroupColumns;
}
