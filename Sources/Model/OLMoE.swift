import Checkpoint
import Kernels

/// OLMoE-style mixture of experts: Llama attention with QK-norm (RMSNorm over the whole q
/// and k projections) and optional clip_qkv, then a routed sparse block. `hidden_act`
/// `polynorm` gives plain up/down experts sharing the layer's one PolyNorm; `silu` gives
/// stock OLMoE's gated SwiGLU experts. Fused expert layouts resolve to the per-expert names
/// below through `TensorNameAliases`.
public enum OLMoE: Architecture {
    public static func summary(_ c: ModelConfig) -> String { "mixture of experts (OLMoE-style)" }

    public static func isGated(_ c: ModelConfig) -> Bool { !c.hiddenAct.isPolynomial }

    public static func problem(_ c: ModelConfig) -> String? {
        guard let e = c.numExperts, let k = c.numExpertsPerTok else { return "olmoe configs need num_experts and num_experts_per_tok" }
        if e <= 0 || k <= 0 { return "num_experts and num_experts_per_tok must be positive" }
        if k > e { return "num_experts_per_tok (\(k)) is larger than num_experts (\(e))" }
        if c.hiddenAct == .polyrelu { return "olmoe with polyrelu experts is not supported (polynorm or silu)" }
        return nil
    }

    public static func weights(_ c: ModelConfig) -> [WeightSpec] {
        let D = c.hiddenSize, E = c.numExperts ?? 0
        return DecoderWeights.specs(c) { p in
            var mlp = [WeightSpec(p + "mlp.gate.weight", [E, D])]
            for e in 0..<E { mlp += expertSpecs(c, p + "mlp.experts.\(e).") }
            return DecoderWeights.layerSpecs(c, p, qkNorm: true, mlp: mlp + DecoderWeights.activationSpecs(c, p))
        }
    }

    /// A token runs k of each layer's E experts.
    public static func parameterCount(_ c: ModelConfig) -> ParameterCount {
        let total = weights(c).reduce(0) { $0 + $1.count }
        let E = c.numExperts ?? 0, K = c.numExpertsPerTok ?? 0
        let expert = expertSpecs(c, "").reduce(0) { $0 + $1.count }
        return ParameterCount(total: total, active: total - c.numHiddenLayers * (E - K) * expert)
    }

    /// One expert's matrices under `x` (`model.layers.{i}.mlp.experts.{e}.`).
    static func expertSpecs(_ c: ModelConfig, _ x: String) -> [WeightSpec] {
        let D = c.hiddenSize, F = c.intermediateSize
        var specs = [WeightSpec(x + "up_proj.weight", [F, D]), WeightSpec(x + "down_proj.weight", [D, F])]
        if isGated(c) { specs.append(WeightSpec(x + "gate_proj.weight", [F, D])) }
        return specs
    }

    public static func build(_ c: ModelConfig, _ tensors: [String: Tensor], options: ComputeOptions) throws -> DecoderModel {
        guard let E = c.numExperts, let K = c.numExpertsPerTok, K <= E else {
            throw CheckpointError.unsupported("olmoe needs num_experts ≥ num_experts_per_tok")
        }
        let w = BoundWeights(tensors: tensors, format: options.weights), gated = isGated(c)
        let stats = RouterStats(layers: c.numHiddenLayers, experts: E)
        let layers = try (0..<c.numHiddenLayers).map { i -> DecoderLayer in
            let p = "model.layers.\(i)."
            let experts = try (0..<E).map { e -> Expert in
                let x = p + "mlp.experts.\(e)."
                return Expert(up: try w.matrix(x + "up_proj.weight"), down: try w.matrix(x + "down_proj.weight"),
                              gate: gated ? try w.matrix(x + "gate_proj.weight") : nil)
            }
            let router = Router(gate: try w.matrix(p + "mlp.gate.weight", quantisable: false), topK: K, normalizeTopK: c.normTopkProb)
            let moe = MixtureOfExperts(router: router, experts: experts, activation: try DecoderWeights.activation(c, w, p),
                                       layer: i, stats: stats)
            return try DecoderWeights.layer(c, w, p, qkNorm: true, feedForward: moe)
        }
        return try DecoderWeights.model(c, w, layers: layers, options: options, routerStats: stats)
    }
}
