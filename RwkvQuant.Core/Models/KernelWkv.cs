using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using RwkvQuant.Kernels.Wkv;
using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Models;

/// <summary>
/// The networks' WKV recurrence on the Kernels' SIMD CPU implementations (<see cref="Wkv7Cpu"/>, <see cref="Wkv6Cpu"/>)
/// instead of a per-token loop of small libtorch calls: the same function (equal to float rounding), one kernel call
/// per sequence of the batch. It takes no part in autograd, so the networks use it only where
/// <see cref="Applies"/> says so and keep their torch loop for the gradient path.
/// </summary>
internal static unsafe class KernelWkv
{
    private static readonly AsyncLocal<bool> TorchLoopForced = new();

    /// <summary>True while <see cref="UseTorchLoop"/> is in force on this thread (or async flow): the networks then
    /// run their torch loop even where the kernel applies (tests compare the two).</summary>
    internal static bool ForceTorchLoop => TorchLoopForced.Value;

    /// <summary>Makes the networks' WKV run the torch loop on this thread (and its async flow) until disposed.</summary>
    internal static IDisposable UseTorchLoop() => new TorchLoopScope();

    /// <summary>
    /// Whether the kernel can stand in for the torch loop: not forced off, no gradient to record (grad mode off or no
    /// input requires one), every tensor float32 on the CPU, per-token inputs <c>[B, T, H, N]</c> with T ≥ 1 and each
    /// sequence's inputs and state addressable as one span.
    /// </summary>
    /// <param name="s0">The state before the first token <c>[B, H, N, N]</c>.</param>
    /// <param name="inputs">The per-token inputs (r first) and any per-head vector (v6's u).</param>
    internal static bool Applies(Tensor s0, params ReadOnlySpan<Tensor> inputs)
    {
        if (ForceTorchLoop)
            return false;
        bool grad = torch.is_grad_enabled();
        if (!IsCpuFloat(s0, grad))
            return false;
        foreach (Tensor input in inputs)
        {
            if (!IsCpuFloat(input, grad))
                return false;
        }
        Tensor r = inputs[0];
        if (r.dim() != 4 || r.shape[1] < 1)
            return false;
        long perSequence = r.shape[1] * r.shape[2] * r.shape[3], state = r.shape[2] * r.shape[3] * r.shape[3];
        return perSequence <= int.MaxValue / sizeof(float) && state <= int.MaxValue / sizeof(float);
    }

    /// <summary>
    /// RWKV-7's WKV, as <c>Rwkv7Network.Wkv</c>: inputs <c>[B, T, H, N]</c>, S <c>[B, H, N(value), N(key)]</c>. Returns y
    /// <c>[B, T, H, N]</c> and the new state <paramref name="s"/>, both fresh tensors in the caller's dispose scope;
    /// <paramref name="s0"/> is only read.
    /// </summary>
    internal static Tensor Rwkv7(Tensor r, Tensor w, Tensor k, Tensor v, Tensor z, Tensor b, Tensor s0, out Tensor s)
    {
        using var scope = torch.NewDisposeScope();
        var run = new Run(r, s0, [r, w, k, v, z, b], ["r", "w", "k", "v", "z", "b"]);
        run.Sequences(Wkv7Cpu.ParallelThreshold, (shape, sequence) =>
        {
            int length = shape.TokenLength;
            Wkv7Cpu.Run(shape, run.Input(0, sequence, length), run.Input(1, sequence, length), run.Input(2, sequence, length),
                run.Input(3, sequence, length), run.Input(4, sequence, length), run.Input(5, sequence, length),
                run.State(sequence), run.Output(sequence));
        });
        s = run.FinalState.MoveToOuterDisposeScope();
        return run.Y.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// RWKV-6's WKV, as <c>Rwkv6Network.Wkv</c>: inputs <c>[B, T, H, N]</c>, the bonus u <c>[H, N]</c>,
    /// S <c>[B, H, N(key), N(value)]</c>. Returns y <c>[B, T, H, N]</c> and the new state <paramref name="s"/>, both fresh
    /// tensors in the caller's dispose scope; <paramref name="s0"/> is only read.
    /// </summary>
    internal static Tensor Rwkv6(Tensor r, Tensor w, Tensor k, Tensor v, Tensor u, Tensor s0, out Tensor s)
    {
        using var scope = torch.NewDisposeScope();
        var run = new Run(r, s0, [r, w, k, v], ["r", "w", "k", "v"]);
        if (u.numel() != r.shape[2] * r.shape[3])
            throw new ArgumentException($"The bonus u must hold H·N = {r.shape[2] * r.shape[3]} values ([H, N]); it has shape [{string.Join(", ", u.shape)}].", nameof(u));
        Tensor bonus = u.contiguous();
        nint pu = (nint)Pointer(bonus);
        run.Sequences(Wkv6Cpu.ParallelThreshold, (shape, sequence) =>
        {
            int length = shape.TokenLength;
            Wkv6Cpu.Run(shape, run.Input(0, sequence, length), run.Input(1, sequence, length), run.Input(2, sequence, length),
                run.Input(3, sequence, length), new ReadOnlySpan<float>((void*)pu, shape.HeadVectorLength),
                run.State(sequence), run.Output(sequence));
        });
        GC.KeepAlive(bonus);
        s = run.FinalState.MoveToOuterDisposeScope();
        return run.Y.MoveToOuterDisposeScope();
    }

    private static bool IsCpuFloat(Tensor t, bool gradEnabled) =>
        t.dtype == ScalarType.Float32 && t.device_type == DeviceType.CPU && !(gradEnabled && t.requires_grad);

    /// <summary>The first float of a contiguous CPU float32 tensor. Its memory is native, so it does not move; the
    /// tensor must stay alive while the pointer is used.</summary>
    private static float* Pointer(Tensor contiguous) =>
        (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(contiguous.bytes));

    /// <summary>
    /// One WKV call's buffers: contiguous float32 copies (or views) of the inputs, the output y <c>[B, T, H, N]</c> and
    /// the state S <c>[B, H, N, N]</c> (a copy of s0, advanced in place), with per-sequence pointers taken on the calling
    /// thread so that the kernel calls on other threads make no torch calls. Made inside the caller's dispose scope,
    /// which keeps every tensor alive until the kernels have run.
    /// </summary>
    private sealed class Run
    {
        private readonly Tensor[] _inputs;
        private readonly nint[][] _inputPointers;
        private readonly nint[] _statePointers, _outputPointers;

        public Run(Tensor r, Tensor s0, Tensor[] inputs, string[] names)
        {
            long batch = r.shape[0];
            Shape = new WkvShape(checked((int)r.shape[1]), checked((int)r.shape[2]), checked((int)r.shape[3]));
            long[] tokenShape = r.shape, stateShape = [batch, Shape.Heads, Shape.HeadSize, Shape.HeadSize];
            for (int i = 0; i < inputs.Length; i++)
                CheckShape(inputs[i], tokenShape, names[i], "[B, T, H, N]");
            CheckShape(s0, stateShape, "s0", "[B, H, N, N]");

            _inputs = inputs.Select(t => t.contiguous()).ToArray();
            Y = torch.empty(tokenShape, ScalarType.Float32);
            FinalState = torch.empty(stateShape, ScalarType.Float32);
            FinalState.copy_(s0);
            _inputPointers = _inputs.Select(SequencePointers).ToArray();
            _statePointers = SequencePointers(FinalState);
            _outputPointers = SequencePointers(Y);
        }

        public WkvShape Shape { get; }

        public Tensor Y { get; }

        public Tensor FinalState { get; }

        public ReadOnlySpan<float> Input(int input, int sequence, int length) =>
            new((void*)_inputPointers[input][sequence], length);

        public Span<float> State(int sequence) => new((void*)_statePointers[sequence], Shape.StateLength);

        public Span<float> Output(int sequence) => new((void*)_outputPointers[sequence], Shape.TokenLength);

        /// <summary>
        /// Runs <paramref name="kernel"/> once per sequence. A call of at least <paramref name="kernelParallelThreshold"/>
        /// multiply-adds already spreads its heads over threads, so such sequences go one after another; smaller ones
        /// run side by side.
        /// </summary>
        public void Sequences(long kernelParallelThreshold, Action<WkvShape, int> kernel)
        {
            int batch = _statePointers.Length;
            WkvShape shape = Shape;
            bool kernelIsParallel = (long)shape.Steps * shape.Heads * shape.HeadSize * shape.HeadSize >= kernelParallelThreshold
                && shape.Heads > 1;
            if (batch > 1 && !kernelIsParallel)
                Parallel.For(0, batch, sequence => kernel(shape, sequence));
            else
                for (int sequence = 0; sequence < batch; sequence++)
                    kernel(shape, sequence);
            GC.KeepAlive(_inputs);
            GC.KeepAlive(Y);
            GC.KeepAlive(FinalState);
        }

        /// <summary>The first float of each sequence b of a contiguous <c>[B, …]</c> tensor.</summary>
        private static nint[] SequencePointers(Tensor t)
        {
            var pointers = new nint[t.shape[0]];
            for (int b = 0; b < pointers.Length; b++)
            {
                using Tensor sequence = t.select(0, b);
                pointers[b] = (nint)Pointer(sequence);
            }
            return pointers;
        }

        private static void CheckShape(Tensor t, long[] expected, string name, string layout)
        {
            if (!t.shape.SequenceEqual(expected))
                throw new ArgumentException($"WKV input '{name}' must be {layout} = [{string.Join(", ", expected)}]; it is [{string.Join(", ", t.shape)}].", name);
        }
    }

    private sealed class TorchLoopScope : IDisposable
    {
        private readonly bool _previous = TorchLoopForced.Value;
        private bool _disposed;

        public TorchLoopScope() => TorchLoopForced.Value = true;

        public void Dispose()
        {
            if (_disposed)
                return;
            _disposed = true;
            TorchLoopForced.Value = _previous;
        }
    }
}
