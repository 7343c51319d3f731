using TorchSharp;

namespace RwkvQuant.Native;

/// <summary>
/// The TorchSharp <see cref="TorchSharp.Scalar"/> constants the library uses, made once and held by static fields for the life
/// of the process.
/// </summary>
/// <remarks>
/// TorchSharp 0.107 turns a C# number into a <see cref="TorchSharp.Scalar"/> implicitly (<c>x * 0.5</c>, <c>x.pow(2)</c>), and
/// several of its methods make one internally: <c>a + b</c> between tensors is <c>a.add(b, 1)</c>, <c>x.square()</c>
/// is <c>x.pow(2)</c>, <c>1 - x</c> is <c>x.negative().add(1, 1)</c>. Such a Scalar owns a native value that only its
/// finalizer frees, and nothing keeps it reachable while the native call that reads it runs: a garbage collection
/// started by any other thread can let the finalizer free it under libtorch's feet ("INTERNAL ASSERT FAILED at
/// c10/core/Scalar.h", or a wrong value). So the library never converts implicitly and never calls those methods: a
/// constant comes from here (a static field keeps it reachable forever), a per-call value is made with
/// <c>using var s = value.ToScalar();</c> (reachable until disposed), and <c>a + b</c> is written
/// <c>a.add(b, One)</c>. <c>Native/ImplicitScalarTests</c> checks the compiled library for both kinds of call.
/// The integer constants are integral Scalars and the floating ones floating, exactly as the implicit conversions
/// they replace made them (an integral Scalar keeps an integer tensor integral; a floating one promotes it).
/// </remarks>
internal static class TorchScalars
{
    /// <summary>Integral 0.</summary>
    public static readonly TorchSharp.Scalar Zero = 0.ToScalar();

    /// <summary>Integral 1: the alpha of <c>a.add(b, One)</c> (what <c>a + b</c> passes) and the 1 of <c>1 − x</c>.</summary>
    public static readonly TorchSharp.Scalar One = 1.ToScalar();

    /// <summary>Integral 2: the exponent of <c>x.pow(Two)</c> (what <c>x.square()</c> passes).</summary>
    public static readonly TorchSharp.Scalar Two = 2.ToScalar();

    /// <summary>Floating 1.0.</summary>
    public static readonly TorchSharp.Scalar OneDouble = 1.0.ToScalar();
}
