import Checkpoint
import Kernels

/// Dense Llama-family models: `polyllama` (PolyCom plain MLP: down(act(up(x))) with a
/// learned PolyNorm / PolyReLU) and stock `llama` (gated SwiGLU), both with GQA and RoPE.
public enum Llama: Architecture {
    public static func weights(_ c: ModelConfig) -> [WeightSpec] {
        let D = c.hiddenSize, F = c.intermediateSize
        return DecoderWeights.specs(c) { p in
            var specs = DecoderWeights.attentionSpecs(c, p, qkNorm: false)
            specs += [WeightSpec(p + "mlp.up_proj.weight", [F, D]), WeightSpec(p + "mlp.down_proj.weight", [D, F])]
            if c.isGated { specs.append(WeightSpec(p + "mlp.gate_proj.weight", [F, D])) }
            return specs + DecoderWeights.activationSpecs(c, p)
        }
    }

    public static func build(_ c: ModelConfig, _ w: [String: Tensor]) throws -> DecoderModel {
        let layers = (0..<c.numHiddenLayers).map { i -> DecoderLayer in
            let p = "model.layers.\(i)."
            let mlp = DenseMLP(up: Matrix(w[p + "mlp.up_proj.weight"]!), down: Matrix(w[p + "mlp.down_proj.weight"]!),
                               gate: c.isGated ? Matrix(w[p + "mlp.gate_proj.weight"]!) : nil,
                               activation: DecoderWeights.activation(c, w, p))
            return DecoderWeights.layer(c, w, p, qkNorm: false, feedForward: mlp)
        }
        return DecoderWeights.model(c, w, layers: layers)
    }
}
