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
        var specs = [WeightSpec("model.embed_tokens.weight", [c.vocabSize, D])]
        for i in 0..<c.numHiddenLayers {
            let p = "model.layers.\(i)."
            specs += [
                WeightSpec(p + "input_layernorm.weight", [D]),
                WeightSpec(p + "self_attn.q_proj.weight", [c.qDim, D]),
                WeightSpec(p + "self_attn.k_proj.weight", [c.kvDim, D]),
                WeightSpec(p + "self_attn.v_proj.weight", [c.kvDim, D]),
                WeightSpec(p + "self_attn.o_proj.weight", [D, c.qDim]),
                WeightSpec(p + "self_attn.q_norm.weight", [c.qDim]),
                WeightSpec(p + "self_attn.k_norm.weight", [c.kvDim]),
                WeightSpec(p + "post_attention_layernorm.weight", [D]),
                WeightSpec(p + "mlp.gate.weight", [E, D]),
            ]
            for e in 0..<E {
                let x = p + "mlp.experts.\(e)."
                specs += [WeightSpec(x + "up_proj.weight", [F, D]), WeightSpec(x + "down_proj.weight", [D, F])]
                if c.isGated { specs.append(WeightSpec(x + "gate_proj.weight", [F, D])) }
            }
            if c.hiddenAct.isPolynomial {
                specs += [WeightSpec(p + "mlp.act_fn.weight", [3]), WeightSpec(p + "mlp.act_fn.bias", [1])]
            }
        }
        specs.append(WeightSpec("model.norm.weight", [D]))
        if !c.tieWordEmbeddings { specs.append(WeightSpec("lm_head.weight", [c.vocabSize, D])) }
        return specs
    }

    public static func build(_ c: ModelConfig, _ w: [String: Tensor]) throws -> DecoderModel {
        guard let E = c.numExperts, let K = c.numExpertsPerTok, K <= E else {
            throw CheckpointError.unsupported("olmoe needs num_experts ≥ num_experts_per_tok")
        }
        let stats = RouterStats(layers: c.numHiddenLayers, experts: E)
        let layers = (0..<c.numHiddenLayers).map { i -> DecoderLayer in
            let p = "model.layers.\(i)."
            let activation = c.hiddenAct.isPolynomial
                ? MLPActivation(kind: c.hiddenAct, weight: w[p + "mlp.act_fn.weight"]!.floats(),
                                bias: w[p + "mlp.act_fn.bias"]!.floats())
                : MLPActivation(kind: c.hiddenAct)
            let experts = (0..<E).map { e -> Expert in
                let x = p + "mlp.experts.\(e)."
                return Expert(up: Matrix(w[x + "up_proj.weight"]!), down: Matrix(w[x + "down_proj.weight"]!),
                              gate: c.isGated ? Matrix(w[x + "gate_proj.weight"]!) : nil)
            }
            let router = Router(gate: Matrix(w[p + "mlp.gate.weight"]!), topK: K, normalizeTopK: c.normTopkProb)
            let attention = Attention(q: Matrix(w[p + "self_attn.q_proj.weight"]!), k: Matrix(w[p + "self_attn.k_proj.weight"]!),
                                      v: Matrix(w[p + "self_attn.v_proj.weight"]!), o: Matrix(w[p + "self_attn.o_proj.weight"]!),
                                      qNorm: w[p + "self_attn.q_norm.weight"]!.floats(),
                                      kNorm: w[p + "self_attn.k_norm.weight"]!.floats(), config: c)
            return DecoderLayer(
                inputNorm: w[p + "input_layernorm.weight"]!.floats(),
                attention: attention,
                postAttentionNorm: w[p + "post_attention_layernorm.weight"]!.floats(),
                feedForward: MixtureOfExperts(router: router, experts: experts, activation: activation, layer: i, stats: stats))
        }
        return DecoderModel(config: c, embedding: Matrix(w["model.embed_tokens.weight"]!), layers: layers,
                            finalNorm: w["model.norm.weight"]!.floats(),
                            lmHead: Matrix(w[c.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight"]!),
                            routerStats: stats)
    }
}
