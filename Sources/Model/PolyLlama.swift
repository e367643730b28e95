import Checkpoint
import Kernels

/// PolyCom's dense model (`polyllama`): the Llama block with a plain two-matrix MLP
/// down(act(up(x))), `act` a learned PolyNorm / PolyReLU or the paper's fixed ReLU / GELU
/// baselines. Everything but the missing gate is `Llama`.
public enum PolyLlama: Architecture {
    public static func summary(_ c: ModelConfig) -> String { "dense Llama, PolyCom plain MLP" }

    public static func isGated(_ c: ModelConfig) -> Bool { false }

    public static func weights(_ c: ModelConfig) -> [WeightSpec] { Llama.weights(c, gated: false) }

    public static func build(_ c: ModelConfig, _ w: [String: Tensor], options: ComputeOptions) throws -> DecoderModel {
        try Llama.build(c, w, gated: false, options: options)
    }
}
