import Checkpoint
import Kernels

/// The tensor-table pieces every decoder architecture shares (embeddings, attention,
/// norms, PolyCom coefficients, head), so each architecture file lists only what is its own.
enum DecoderWeights {
    /// The whole table: embeddings, per-layer blocks from `layer`, final norm, head.
    static func specs(_ c: ModelConfig, layer: (_ prefix: String) -> [WeightSpec]) -> [WeightSpec] {
        var specs = [WeightSpec("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize])]
        for i in 0..<c.numHiddenLayers { specs += layer("model.layers.\(i).") }
        specs.append(WeightSpec("model.norm.weight", [c.hiddenSize]))
        if !c.tieWordEmbeddings { specs.append(WeightSpec("lm_head.weight", [c.vocabSize, c.hiddenSize])) }
        return specs
    }

    /// Norms and attention projections of one layer (with QK-norm weights when asked).
    static func attentionSpecs(_ c: ModelConfig, _ p: String, qkNorm: Bool) -> [WeightSpec] {
        let D = c.hiddenSize
        var specs = [
            WeightSpec(p + "input_layernorm.weight", [D]),
            WeightSpec(p + "self_attn.q_proj.weight", [c.qDim, D]),
            WeightSpec(p + "self_attn.k_proj.weight", [c.kvDim, D]),
            WeightSpec(p + "self_attn.v_proj.weight", [c.kvDim, D]),
            WeightSpec(p + "self_attn.o_proj.weight", [D, c.qDim]),
            WeightSpec(p + "post_attention_layernorm.weight", [D]),
        ]
        if qkNorm {
            specs += [WeightSpec(p + "self_attn.q_norm.weight", [c.qDim]), WeightSpec(p + "self_attn.k_norm.weight", [c.kvDim])]
        }
        return specs
    }

    /// `mlp.act_fn` coefficients when the activation is a PolyCom polynomial.
    static func activationSpecs(_ c: ModelConfig, _ p: String) -> [WeightSpec] {
        c.hiddenAct.isPolynomial ? [WeightSpec(p + "mlp.act_fn.weight", [3]), WeightSpec(p + "mlp.act_fn.bias", [1])] : []
    }

    static func activation(_ c: ModelConfig, _ w: [String: Tensor], _ p: String) -> MLPActivation {
        c.hiddenAct.isPolynomial
            ? MLPActivation(kind: c.hiddenAct, weight: w[p + "mlp.act_fn.weight"]!.floats(), bias: w[p + "mlp.act_fn.bias"]!.floats())
            : MLPActivation(kind: c.hiddenAct)
    }

    /// One block from its bound tensors and its feed-forward part.
    static func layer(_ c: ModelConfig, _ w: [String: Tensor], _ p: String, qkNorm: Bool, feedForward: any FeedForward) -> DecoderLayer {
        let attention = Attention(q: Matrix(w[p + "self_attn.q_proj.weight"]!), k: Matrix(w[p + "self_attn.k_proj.weight"]!),
                                  v: Matrix(w[p + "self_attn.v_proj.weight"]!), o: Matrix(w[p + "self_attn.o_proj.weight"]!),
                                  qNorm: qkNorm ? w[p + "self_attn.q_norm.weight"]!.floats() : nil,
                                  kNorm: qkNorm ? w[p + "self_attn.k_norm.weight"]!.floats() : nil, config: c)
        return DecoderLayer(inputNorm: w[p + "input_layernorm.weight"]!.floats(), attention: attention,
                            postAttentionNorm: w[p + "post_attention_layernorm.weight"]!.floats(), feedForward: feedForward)
    }

    static func model(_ c: ModelConfig, _ w: [String: Tensor], layers: [DecoderLayer], routerStats: RouterStats? = nil) -> DecoderModel {
        let embedding = Matrix(w["model.embed_tokens.weight"]!)
        return DecoderModel(config: c, embedding: embedding, layers: layers, finalNorm: w["model.norm.weight"]!.floats(),
                            lmHead: c.tieWordEmbeddings ? embedding : Matrix(w["lm_head.weight"]!), routerStats: routerStats)
    }
}
