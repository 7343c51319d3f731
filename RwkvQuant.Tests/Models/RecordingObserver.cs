using RwkvQuant.Models;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Models;

/// <summary>Keeps a copy of everything a forward pass reports, in order.</summary>
internal sealed class RecordingObserver : INetworkObserver, IDisposable
{
    public List<(string Name, Tensor Input)> Linear { get; } = [];

    public List<(string Name, Tensor Operand)> Multiply { get; } = [];

    public Tensor LinearInput(string name) => Linear.Single(e => e.Name == name).Input;

    public void OnLinearInput(string weightName, Tensor input) => Linear.Add((weightName, input.clone().DetachFromDisposeScope()));

    public void OnMultiplyOperand(string vectorName, Tensor operand) => Multiply.Add((vectorName, operand.clone().DetachFromDisposeScope()));

    public void Dispose()
    {
        foreach ((_, Tensor t) in Linear)
            t.Dispose();
        foreach ((_, Tensor t) in Multiply)
            t.Dispose();
    }
}
