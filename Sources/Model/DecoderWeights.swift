import Checkpoint
import Kernels

/// The tensor-table pieces every decoder architecture shares (embeddings, attention,
/// norms, PolyCom coefficients, head), so each architecture file lists only what is its own.
/// The names here and in the blocks' `parameters(_:)` are the same table read two ways
/// (from a config, from a built model); ParametersTests checks they agree.
enum DecoderWeights {
    /// The whole table: embeddings, per-layer blocks from `layer`, final norm, head.
    static func specs(_ c: ModelConfig, layer: (_ prefix: String) -> [WeightSpec]) -> [WeightSpec] {
        var specs = [WeightSpec("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize])]
        for i in 0..<c.numHiddenLayers { specs += layer("model.layers.\(i).") }
        specs.append(WeightSpec("model.norm.weight", [c.hiddenSize]))
        if !c.tieWordEmbeddings { specs.append(WeightSpec("lm_head.weight", [c.vocabSize, c.hiddenSize])) }
        return specs
    }

    /// One layer: input norm, attention projections (with QK-norm weights when asked),
    /// post-attention norm, then the feed-forward part's `mlp`.
    static func layerSpecs(_ c: ModelConfig, _ p: String, qkNorm: Bool, mlp: [WeightSpec]) -> [WeightSpec] {
        let D = c.hiddenSize
        var specs = [
            WeightSpec(p + "input_layernorm.weight", [D]),
            WeightSpec(p + "self_attn.q_proj.weight", [c.qDim, D]),
            WeightSpec(p + "self_attn.k_proj.weight", [c.kvDim, D]),
            WeightSpec(p + "self_attn.v_proj.weight", [c.kvDim, D]),
            WeightSpec(p + "self_attn.o_proj.weight", [D, c.qDim]),
        ]
        if qkNorm {
            specs += [WeightSpec(p + "self_attn.q_norm.weight", [c.qDim]), WeightSpec(p + "self_attn.k_norm.weight", [c.kvDim])]
        }
        return specs + [WeightSpec(p + "post_attention_layernorm.weight", [D])] + mlp
    }

    /// `mlp.act_fn` coefficients when the activation is a PolyCom polynomial.
    static func activationSpecs(_ c: ModelConfig, _ p: String) -> [WeightSpec] {
        c.hiddenAct.isPolynomial ? [WeightSpec(p + "mlp.act_fn.weight", [3]), WeightSpec(p + "mlp.act_fn.bias", [1])] : []
    }

    static func activation(_ c: ModelConfig, _ w: BoundWeights, _ p: String) throws -> MLPActivation {
        c.hiddenAct.isPolynomial
            ? MLPActivation(kind: c.hiddenAct, weight: try w.vector(p + "mlp.act_fn.weight"), bias: try w.vector(p + "mlp.act_fn.bias"))
            : MLPActivation(kind: c.hiddenAct)
    }

    /// One block from its bound tensors and its feed-forward part.
    static func layer(_ c: ModelConfig, _ w: BoundWeights, _ p: String, qkNorm: Bool, feedForward: any FeedForward) throws -> DecoderLayer {
        let a = p + "self_attn."
        let attention = Attention(q: try w.matrix(a + "q_proj.weight"), k: try w.matrix(a + "k_proj.weight"),
                                  v: try w.matrix(a + "v_proj.weight"), o: try w.matrix(a + "o_proj.weight"),
                                  qNorm: qkNorm ? try w.vector(a + "q_norm.weight") : nil,
                                  kNorm: qkNorm ? try w.vector(a + "k_norm.weight") : nil, config: c)
        return DecoderLayer(inputNorm: try w.vector(p + "input_layernorm.weight"), attention: attention,
                            postAttentionNorm: try w.vector(p + "post_attention_layernorm.weight"), feedForward: feedForward)
    }

    static func model(_ c: ModelConfig, _ w: BoundWeights, layers: [DecoderLayer], options: ComputeOptions,
                      routerStats: RouterStats? = nil) throws -> DecoderModel {
        // An untied table is read one row per token: q8 would save memory, not time, and cost accuracy.
        let embedding = try w.matrix("model.embed_tokens.weight", quantisable: c.tieWordEmbeddings)
        return DecoderModel(config: c, embedding: embedding, layers: layers, finalNorm: try w.vector("model.norm.weight"),
                            lmHead: c.tieWordEmbeddings ? embedding : try w.matrix("lm_head.weight"),
                            options: options, routerStats: routerStats)
    }
}

/// Bound checkpoint tensors, as the blocks take them, matrices held as `format` asks.
/// A q8 matrix is bound as its I8 values under the weight's name plus its scales under
/// `<name>.q8_scale` (`CheckpointFolder.bind`).
struct BoundWeights {
    let tensors: [String: Tensor]
    var format: WeightFormat = .auto

    private func tensor(_ name: String) throws -> Tensor {
        guard let t = tensors[name] else { throw CheckpointError.missingTensor(name: name) }
        return t
    }

    /// A weight matrix in its stored dtype (no copy), unless `format` converts it.
    /// `quantisable: false` (MoE routers) keeps a matrix out of q8, as llama.cpp keeps its
    /// expert-gating tensors: a rounding error there flips an expert choice, and with it a
    /// token's whole feed-forward output, for a matrix of a few kilobytes.
    func matrix(_ name: String, quantisable: Bool = true) throws -> Matrix {
        let t = try tensor(name)
        let stored = t.dtype == .i8 ? Matrix(q8: t, scales: try tensor(name + SafeTensorsQ8.scaleSuffix)) : Matrix(t)
        return stored.held(as: format == .q8 && !quantisable ? .auto : format)
    }

    /// Norm scales and PolyCom coefficients as F32: the stored tensor when F32, else
    /// converted once here.
    func vector(_ name: String) throws -> Tensor {
        let t = try tensor(name)
        guard t.dtype != .i8 else { throw CheckpointError.unsupported("\(name) is q8; only matrices may be") }
        return t.converted(to: .f32)
    }
}
