using System.Diagnostics.CodeAnalysis;

namespace RwkvQuant.Kernels.Wkv;

/// <summary>
/// The shape of one WKV call: <see cref="Steps"/> tokens T of one sequence, <see cref="Heads"/> H heads of
/// <see cref="HeadSize"/> N channels. Per-token inputs are <c>[T, H, N]</c> row-major, the state <c>[H, N, N]</c>.
/// </summary>
public readonly record struct WkvShape
{
    /// <summary>Validates and stores the sizes (each at least 1; T·H·N and H·N·N must fit an int).</summary>
    public WkvShape(int steps, int heads, int headSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(heads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(headSize, 1);
        if ((long)steps * heads * headSize > int.MaxValue || (long)heads * headSize * headSize > int.MaxValue)
            throw new ArgumentException($"A WKV call of T={steps}, H={heads}, N={headSize} is too large.");
        Steps = steps;
        Heads = heads;
        HeadSize = headSize;
    }

    /// <summary>T, the tokens of the call.</summary>
    public int Steps { get; }

    /// <summary>H, the heads.</summary>
    public int Heads { get; }

    /// <summary>N, the channels per head.</summary>
    public int HeadSize { get; }

    /// <summary>T·H·N, the length of every per-token input and of the output.</summary>
    public int TokenLength => Steps * Heads * HeadSize;

    /// <summary>H·N, the length of a per-head vector such as v6's bonus u.</summary>
    public int HeadVectorLength => Heads * HeadSize;

    /// <summary>H·N·N, the length of the state.</summary>
    public int StateLength => Heads * HeadSize * HeadSize;

    /// <summary>The same heads for <paramref name="steps"/> tokens.</summary>
    public WkvShape WithSteps(int steps) => new(steps, Heads, HeadSize);

    /// <summary>Throws unless <paramref name="actual"/> equals <paramref name="expected"/>, naming the argument.</summary>
    internal static void Check(long actual, long expected, string name, string layout)
    {
        if (actual != expected)
            Throw(actual, expected, name, layout);
    }

    /// <summary>Checks the per-token inputs, the output and the state.</summary>
    internal void CheckCommon(long r, long w, long k, long v, long state, long y)
    {
        Check(r, TokenLength, "r", "[T, H, N]");
        Check(w, TokenLength, "w", "[T, H, N]");
        Check(k, TokenLength, "k", "[T, H, N]");
        Check(v, TokenLength, "v", "[T, H, N]");
        Check(state, StateLength, "state", "[H, N, N]");
        Check(y, TokenLength, "y", "[T, H, N]");
    }

    [DoesNotReturn]
    private static void Throw(long actual, long expected, string name, string layout) =>
        throw new ArgumentException($"'{name}' must hold {expected} values ({layout}); it holds {actual}.", name);
}
