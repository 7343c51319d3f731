namespace RwkvQuant.Inference;

/// <summary>
/// y = W·x for one stored weight W <c>[Rows = out, Columns = in]</c> (PyTorch's Linear layout), computed from the
/// weight as stored — packed codes, scales, codebooks or a kept FP16/FP32 matrix — without ever building the
/// full-precision matrix of a quantized weight. Implementations are immutable and safe to call from several threads
/// at once (each call uses its own scratch).
/// </summary>
internal interface IMatrixVectorProduct
{
    /// <summary>The weight's name (canonical model key).</summary>
    string Name { get; }

    /// <summary>Output dimension.</summary>
    int Rows { get; }

    /// <summary>Input dimension.</summary>
    int Columns { get; }

    /// <summary>Bytes of stored weight data one product reads: the packed bytes of a quantized weight (codes, scales,
    /// zeros, codebooks, permutation), or elements × element size of a kept one.</summary>
    long WeightBytes { get; }

    /// <summary>Effectively computes y[r] = Σ_c W[r, c]·x[c] for every row r.</summary>
    /// <param name="x">The input, <c>[Columns]</c>.</param>
    /// <param name="y">The output, <c>[Rows]</c> (overwritten).</param>
    void Multiply(ReadOnlySpan<float> x, Span<float> y);

    /// <summary>
    /// Effectively computes y[n, r] = Σ_c W[r, c]·x[n, c] for <paramref name="vectors"/> inputs at once (a prompt's
    /// tokens): x <c>[vectors, Columns]</c>, y <c>[vectors, Rows]</c>. Products that can read their weight once for
    /// several vectors do so; by default each vector is one <see cref="Multiply(ReadOnlySpan{float}, Span{float})"/>.
    /// </summary>
    /// <exception cref="ArgumentException">x or y does not hold <paramref name="vectors"/> whole vectors.</exception>
    void Multiply(ReadOnlySpan<float> x, Span<float> y, int vectors)
    {
        MatrixShapes.Check(this, x.Length, y.Length, vectors);
        for (int n = 0; n < vectors; n++)
            Multiply(x.Slice(n * Columns, Columns), y.Slice(n * Rows, Rows));
    }

    /// <summary>Row <paramref name="row"/> of W in original column order, <c>[Columns]</c> (an embedding lookup, or a
    /// product over part of the columns).</summary>
    void DecodeRow(int row, Span<float> destination);
}
