import Checkpoint
import Kernels

/// OLMoE-style mixture of experts: Llama attention with QK-norm (RMSNorm over the whole q
/// and k projections) and optional clip_qkv, then a routed sparse block. `hidden_act`
/// `polynorm` gives plain up/down experts sharing the layer's one PolyNorm; `silu` gives
/// stock OLMoE's gated SwiGLU experts. Fused expert layouts resolve to the per-expert names
/// below through `TensorNameAliases`.
public enum OLMoE: Architecture {
    public static func weights(_ c: ModelConfig) -> [WeightSpec] {
        let D = c.hiddenSize, F = c.intermediateSize, E = c.numExperts ?? 0
        return DecoderWeights.specs(c) { p in
            var specs = DecoderWeights.attentionSpecs(c, p, qkNorm: true)
            specs.append(WeightSpec(p + "mlp.gate.weight", [E, D]))
            for e in 0..<E {
                let x = p + "mlp.experts.\(e)."
                specs += [WeightSpec(x + "up_proj.weight", [F, D]), WeightSpec(x + "down_proj.weight", [D, F])]
                if c.isGated { specs.append(WeightSpec(x + "gate_proj.weight", [F, D])) }
            }
            return specs + DecoderWeights.activationSpecs(c, p)
        }
    }

    public static func build(_ c: ModelConfig, _ w: [String: Tensor]) throws -> DecoderModel {
        guard let E = c.numExperts, let K = c.numExpertsPerTok, K <= E else {
            throw CheckpointError.unsupported("olmoe needs num_experts ≥ num_experts_per_tok")
        }
        let stats = RouterStats(layers: c.numHiddenLayers, experts: E)
        let layers = (0..<c.numHiddenLayers).map { i -> DecoderLayer in
            let p = "model.layers.\(i)."
            let experts = (0..<E).map { e -> Expert in
                let x = p + "mlp.experts.\(e)."
                return Expert(up: Matrix(w[x + "up_proj.weight"]!), down: Matrix(w[x + "down_proj.weight"]!),
                              gate: c.isGated ? Matrix(w[x + "gate_proj.weight"]!) : nil)
            }
            let router = Router(gate: Matrix(w[p + "mlp.gate.weight"]!), topK: K, normalizeTopK: c.normTopkProb)
            let moe = MixtureOfExperts(router: router, experts: experts, activation: DecoderWeights.activation(c, w, p),
                                       layer: i, stats: stats)
            return DecoderWeights.layer(c, w, p, qkNorm: true, feedForward: moe)
        }
        return DecoderWeights.model(c, w, layers: layers, routerStats: stats)
    }
}
