using RwkvQuant.Formats.Ggml;
using RwkvQuant.Kernels.Wkv;
using RwkvQuant.Models;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Kernels.Wkv;

/// <summary>
/// The WKV kernels compute what the TorchSharp networks compute: every layer's WKV inputs, as the real fixture models
/// produce them during a forward pass from a carried (non-zero) state, give the output and new state of the network's
/// per-token torch loop (forced, since the network would otherwise run these kernels themselves).
/// </summary>
public sealed class WkvNetworkTests
{
    private const float Tolerance = 2e-5f;

    /// <summary>Keeps float copies of every layer's WKV call (batch 1).</summary>
    private sealed class TraceObserver : INetworkObserver
    {
        public List<(string Layer, Dictionary<string, float[]> Values, long[] Shape)> Calls { get; } = [];

        public void OnLinearInput(string weightName, Tensor input)
        {
        }

        public void OnMultiplyOperand(string vectorName, Tensor operand)
        {
        }

        public void OnWkv(string layerPrefix, WkvTrace trace)
        {
            static float[] Copy(Tensor t) => t.contiguous().data<float>().ToArray();
            var values = new Dictionary<string, float[]>
            {
                ["r"] = Copy(trace.R), ["w"] = Copy(trace.W), ["k"] = Copy(trace.K), ["v"] = Copy(trace.V),
                ["s0"] = Copy(trace.InitialState), ["y"] = Copy(trace.Output), ["s"] = Copy(trace.FinalState),
            };
            if (trace.Bonus is not null)
                values["u"] = Copy(trace.Bonus);
            if (trace.Z is not null)
                values["z"] = Copy(trace.Z);
            if (trace.B is not null)
                values["b"] = Copy(trace.B);
            Calls.Add((layerPrefix, values, trace.R.shape));
        }
    }

    [FixtureTheory]
    [InlineData("tiny-rwkv-6v0-1m-FP32.bin")]
    [InlineData("tiny-rwkv-7v0-834K-FP32.bin")]
    public void Reference_and_simd_equal_the_networks_wkv_on_real_activations(string file)
    {
        RwkvModel model = GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", file));
        using RwkvNetwork network = RwkvNetwork.Create(model);
        using var scope = NewDisposeScope();
        using IDisposable torchLoop = KernelWkv.UseTorchLoop(); // the network's own torch loop, not the kernel under test
        RwkvState state = network.CreateState();
        network.Forward(tensor(new long[] { 34, 105, 110, 32, 116, 104, 101 }, [1, 7]), state); // a non-zero state to start from
        var observer = new TraceObserver();
        network.ForwardObserved(tensor(new long[] { 119, 111, 114, 108, 100, 32, 105, 115, 32 }, [1, 9]), state, observer);

        Assert.Equal(model.Config.LayerCount, observer.Calls.Count);
        foreach ((string layer, Dictionary<string, float[]> x, long[] dims) in observer.Calls)
        {
            var shape = new WkvShape((int)dims[1], (int)dims[2], (int)dims[3]);
            Assert.Contains(x["s0"], value => value != 0);
            foreach (string implementation in new[] { "reference", "simd" })
            {
                float[] s = (float[])x["s0"].Clone();
                var y = new float[shape.TokenLength];
                bool reference = implementation == "reference";
                if (model.Config.Version == RwkvVersion.V6)
                {
                    if (reference)
                        Wkv6Reference.Run(shape, x["r"], x["w"], x["k"], x["v"], x["u"], s, y);
                    else
                        Wkv6Cpu.Run(shape, x["r"], x["w"], x["k"], x["v"], x["u"], s, y);
                }
                else
                {
                    if (reference)
                        Wkv7Reference.Run(shape, x["r"], x["w"], x["k"], x["v"], x["z"], x["b"], s, y);
                    else
                        Wkv7Cpu.Run(shape, x["r"], x["w"], x["k"], x["v"], x["z"], x["b"], s, y);
                }
                WkvInputs.AssertClose(x["y"], y, Tolerance, $"{file} {layer} {implementation} y");
                WkvInputs.AssertClose(x["s"], s, Tolerance, $"{file} {layer} {implementation} state");
            }
        }
    }
}
