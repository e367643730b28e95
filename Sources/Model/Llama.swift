import Checkpoint
import Kernels

/// Stock Llama (`llama`): GQA, RoPE and a gated MLP down(act(gate(x)) · up(x)) — unless
/// `hidden_act` is a PolyCom polynomial, which has no gate. `PolyLlama` shares this code.
public enum Llama: Architecture {
    public static func summary(_ c: ModelConfig) -> String {
        isGated(c) ? "dense Llama, gated MLP" : "dense Llama, PolyCom plain MLP"
    }

    public static func isGated(_ c: ModelConfig) -> Bool { !c.hiddenAct.isPolynomial }

    public static func weights(_ c: ModelConfig) -> [WeightSpec] { weights(c, gated: isGated(c)) }

    public static func build(_ c: ModelConfig, _ w: [String: Tensor], options: ComputeOptions) throws -> DecoderModel {
        try build(c, w, gated: isGated(c), options: options)
    }

    static func weights(_ c: ModelConfig, gated: Bool) -> [WeightSpec] {
        let D = c.hiddenSize, F = c.intermediateSize
        return DecoderWeights.specs(c) { p in
            var mlp = [WeightSpec(p + "mlp.up_proj.weight", [F, D]), WeightSpec(p + "mlp.down_proj.weight", [D, F])]
            if gated { mlp.append(WeightSpec(p + "mlp.gate_proj.weight", [F, D])) }
            return DecoderWeights.layerSpecs(c, p, qkNorm: false, mlp: mlp + DecoderWeights.activationSpecs(c, p))
        }
    }

    static func build(_ c: ModelConfig, _ tensors: [String: Tensor], gated: Bool, options: ComputeOptions) throws -> DecoderModel {
        let w = BoundWeights(tensors: tensors, format: options.weights)
        let layers = try (0..<c.numHiddenLayers).map { i -> DecoderLayer in
            let p = "model.layers.\(i)."
            let mlp = DenseMLP(up: try w.matrix(p + "mlp.up_proj.weight"), down: try w.matrix(p + "mlp.down_proj.weight"),
                               gate: gated ? try w.matrix(p + "mlp.gate_proj.weight") : nil,
                               activation: try DecoderWeights.activation(c, w, p))
            return try DecoderWeights.layer(c, w, p, qkNorm: false, feedForward: mlp)
        }
        return try DecoderWeights.model(c, w, layers: layers, options: options)
    }
}
