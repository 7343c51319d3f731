using static TorchSharp.torch;

namespace RwkvQuant.Models;

/// <summary>One block's weights; LoRA matrices in BlinkDL's (C, D) / (D, C) layout, vectors flattened to [C].</summary>
internal sealed record Rwkv7Layer(
    string Prefix,
    Tensor Ln1Weight, Tensor Ln1Bias, Tensor Ln2Weight, Tensor Ln2Bias,
    Tensor Xr, Tensor Xw, Tensor Xk, Tensor Xv, Tensor Xa, Tensor Xg,
    Tensor W0, Tensor W1, Tensor W2, Tensor A0, Tensor A1, Tensor A2,
    Tensor? V0, Tensor? V1, Tensor? V2, Tensor G1, Tensor G2,
    Tensor KK, Tensor KA, Tensor RK,
    Tensor Receptance, Tensor Key, Tensor Value, Tensor Output, Tensor LnXWeight, Tensor LnXBias,
    Tensor FfnXk, Tensor FfnKey, Tensor FfnValue);
