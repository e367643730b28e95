import Checkpoint
import Foundation
import Kernels
import Model
import PolyKernels

/// One layer's parameters of the dense decoder (polyllama and llama).
struct DenseLayerParams {
    let inputNorm: Param, q: Param, k: Param, v: Param, o: Param, postNorm: Param
    let up: Param, down: Param, gate: Param?
    /// PolyCom coefficients `mlp.act_fn.weight` [3] and `.bias` [1].
    let actWeight: Param?, actBias: Param?

    init(_ store: ParameterStore, _ c: ModelConfig, gated: Bool, layer i: Int) {
        let p = "model.layers.\(i)."
        inputNorm = Param(store, p + "input_layernorm.weight")
        q = Param(store, p + "self_attn.q_proj.weight"); k = Param(store, p + "self_attn.k_proj.weight")
        v = Param(store, p + "self_attn.v_proj.weight"); o = Param(store, p + "self_attn.o_proj.weight")
        postNorm = Param(store, p + "post_attention_layernorm.weight")
        up = Param(store, p + "mlp.up_proj.weight"); down = Param(store, p + "mlp.down_proj.weight")
        gate = gated ? Param(store, p + "mlp.gate_proj.weight") : nil
        actWeight = c.hiddenAct.isPolynomial ? Param(store, p + "mlp.act_fn.weight") : nil
        actBias = c.hiddenAct.isPolynomial ? Param(store, p + "mlp.act_fn.bias") : nil
    }

    /// [w0, w1, w2, b] as they are now.
    var coefficients: [Float] {
        guard let w = actWeight, let b = actBias else { return [0, 0, 0, 0] }
        return [w.w[0], w.w[1], w.w[2], b.w[0]]
    }
}

/// The dense Llama-family decoder in training form: forward with saved activations,
/// hand-written backward (DenseTrainingModel+Backward.swift), f32 weights in a ParameterStore.
public final class DenseTrainingModel: TrainableModel {
    public let config: ModelConfig
    public let store: ParameterStore
    public let seqLen: Int
    public let maxSequences: Int
    let layers: [DenseLayerParams]
    let embedding: Param, finalNorm: Param, head: Param
    let attention: CausalAttention
    let activation: FeedForwardActivation
    let acts: ModelActivations
    let ropeCos: FloatBuffer, ropeSin: FloatBuffer // [maxSequences·T, hd/2]

    public init(config c: ModelConfig, store: ParameterStore, seqLen T: Int, maxSequences B: Int, recompute: Bool = false) throws {
        let arch = try Architectures.of(c)
        guard Self.architectures.contains(where: { ObjectIdentifier($0) == ObjectIdentifier(arch) }) else {
            throw TrainingError.invalidModel("model_type \(c.modelType) is not trainable yet (dense models: polyllama, llama)")
        }
        let gated = arch.isGated(c)
        config = c
        self.store = store
        seqLen = T
        maxSequences = B
        layers = (0..<c.numHiddenLayers).map { DenseLayerParams(store, c, gated: gated, layer: $0) }
        embedding = Param(store, "model.embed_tokens.weight")
        finalNorm = Param(store, "model.norm.weight")
        head = c.tieWordEmbeddings ? embedding : Param(store, "lm_head.weight")
        attention = CausalAttention(heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads, headDim: c.headDim)
        activation = FeedForwardActivation(kind: c.hiddenAct, gated: gated)
        acts = ModelActivations(Self.shape(c, gated: gated, seqLen: T, sequences: B), layers: c.numHiddenLayers, recompute: recompute)
        (ropeCos, ropeSin) = Self.ropeTables(RoPE(config: c), positions: (0..<(B * T)).map { $0 % T })
    }

    /// The architectures this model trains.
    static let architectures: [any Architecture.Type] = [PolyLlama.self, Llama.self]

    static func shape(_ c: ModelConfig, gated: Bool, seqLen T: Int, sequences B: Int) -> PassShape {
        PassShape(B: B, T: T, D: c.hiddenSize, F: c.intermediateSize, V: c.vocabSize, qDim: c.qDim, kvDim: c.kvDim,
                  heads: c.numAttentionHeads, gated: gated)
    }

    /// Bytes of activations one pass of B sequences of T tokens holds.
    public static func activationBytes(_ c: ModelConfig, seqLen T: Int, sequences B: Int, recompute: Bool) throws -> Int {
        let shape = shape(c, gated: try Architectures.of(c).isGated(c), seqLen: T, sequences: B)
        return 4 * ModelActivations.floats(shape, layers: c.numHiddenLayers, recompute: recompute)
    }

    /// cos and sin [positions, hd/2] as the inference RoPE computes them (its tables live in
    /// the inference workspace).
    static func ropeTables(_ rope: RoPE, positions: [Int]) -> (FloatBuffer, FloatBuffer) {
        let half = rope.headDim / 2
        let c = FloatBuffer(count: positions.count * half), s = FloatBuffer(count: positions.count * half)
        for (t, p) in positions.enumerated() {
            for j in 0..<half {
                let angle = Float(p) * rope.invFreq[j]
                c[t * half + j] = Float(Foundation.cos(Double(angle)))
                s[t * half + j] = Float(Foundation.sin(Double(angle)))
            }
        }
        return (c, s)
    }

    public func accumulateGradients(tokens: [Int32], targets: [Int32], lossScale: Float) throws -> Double {
        let B = try load(tokens, targets)
        forward(B: B)
        return backward(B: B, lossScale: lossScale)
    }

    public func loss(tokens: [Int32], targets: [Int32]) throws -> Double {
        let B = try load(tokens, targets)
        forward(B: B)
        return pk_cross_entropy_forward(nil, acts.logits.pointer, acts.targets, B * seqLen, config.vocabSize)
    }

    /// Logits [B·T, V] of the last pass (tests).
    var logits: FloatBuffer { acts.logits }

    /// Embeds the tokens and stores the targets; returns the number of sequences.
    private func load(_ tokens: [Int32], _ targets: [Int32]) throws -> Int {
        let T = seqLen, D = config.hiddenSize, V = Int32(config.vocabSize)
        guard tokens.count == targets.count, tokens.count % T == 0, tokens.count / T <= maxSequences, !tokens.isEmpty else {
            throw TrainingError.invalidArgument("a pass takes 1...\(maxSequences) sequences of \(T) tokens, got \(tokens.count) tokens")
        }
        for (t, y) in zip(tokens, targets) {
            guard t >= 0 && t < V, y == Int32(PK_IGNORE_INDEX) || (y >= 0 && y < V) else {
                throw TrainingError.invalidData("token id \(max(t, y)) is outside the vocabulary (0..<\(V))")
            }
        }
        let x = acts.inputs[0].pointer
        for (i, t) in tokens.enumerated() { (x + i * D).update(from: embedding.w + Int(t) * D, count: D) }
        tokens.withUnsafeBufferPointer { acts.tokens.update(from: $0.baseAddress!, count: tokens.count) }
        targets.withUnsafeBufferPointer { acts.targets.update(from: $0.baseAddress!, count: targets.count) }
        return tokens.count / T
    }

    /// Layers, final norm and LM head over the embedded inputs.
    func forward(B: Int) {
        let c = config, N = B * seqLen
        for l in 0..<layers.count { forwardLayer(l, B: B) }
        pk_rmsnorm_forward(acts.normFinal.pointer, acts.rstdFinal.pointer, acts.inputs[layers.count].pointer, finalNorm.w,
                           N, c.hiddenSize, c.rmsNormEps)
        Linear.forward(acts.logits.pointer, acts.normFinal.pointer, head.w, N: N, I: c.hiddenSize, O: c.vocabSize)
    }

    /// h = x + o(attn(norm(x))); out = h + down(act(up(norm(h)))) — inputs[l] to inputs[l + 1].
    func forwardLayer(_ l: Int, B: Int) {
        let c = config, w = layers[l], a = acts.layer(l)
        let N = B * seqLen, D = c.hiddenSize, F = c.intermediateSize
        let x = acts.inputs[l].pointer, out = acts.inputs[l + 1].pointer
        pk_rmsnorm_forward(a.norm1.pointer, a.rstd1.pointer, x, w.inputNorm.w, N, D, c.rmsNormEps)
        Linear.forward(a.q.pointer, a.norm1.pointer, w.q.w, N: N, I: D, O: c.qDim)
        Linear.forward(a.k.pointer, a.norm1.pointer, w.k.w, N: N, I: D, O: c.kvDim)
        Linear.forward(a.v.pointer, a.norm1.pointer, w.v.w, N: N, I: D, O: c.kvDim)
        pk_rope(a.q.pointer, c.qDim, ropeCos.pointer, ropeSin.pointer, N, c.numAttentionHeads, c.headDim)
        pk_rope(a.k.pointer, c.kvDim, ropeCos.pointer, ropeSin.pointer, N, c.numKeyValueHeads, c.headDim)
        attention.forward(context: a.context.pointer, probs: a.probs.pointer, q: a.q.pointer, k: a.k.pointer, v: a.v.pointer,
                          B: B, T: seqLen)
        Linear.forward(a.mid.pointer, a.context.pointer, w.o.w, N: N, I: c.qDim, O: D)
        pk_add(a.mid.pointer, a.mid.pointer, x, N * D)
        pk_rmsnorm_forward(a.norm2.pointer, a.rstd2.pointer, a.mid.pointer, w.postNorm.w, N, D, c.rmsNormEps)
        Linear.forward(a.up.pointer, a.norm2.pointer, w.up.w, N: N, I: D, O: F)
        if let gate = w.gate { Linear.forward(a.gate!.pointer, a.norm2.pointer, gate.w, N: N, I: D, O: F) }
        activation.forward(out: a.act.pointer, inv: a.polyInv.pointer, up: a.up.pointer, gate: a.gate?.pointer,
                           coef: w.coefficients, N: N, F: F)
        Linear.forward(out, a.act.pointer, w.down.w, N: N, I: F, O: D)
        pk_add(out, out, a.mid.pointer, N * D)
    }
}

extension DenseTrainingModel {
    /// A checkpoint folder's weights as f32 parameters (names and shapes checked by the
    /// same binding the inference loader uses).
    public static func load(path: String, seqLen: Int, maxSequences: Int, recompute: Bool = false) throws -> DenseTrainingModel {
        let folder = try CheckpointFolder(path: path)
        let c = folder.config
        let specs = try Architectures.of(c).weights(c)
        let tensors = try folder.bind(specs, optional: c.tieWordEmbeddings ? ["lm_head.weight"] : [])
        return try DenseTrainingModel(config: c, store: try ParameterStore(specs, values: tensors), seqLen: seqLen,
                                      maxSequences: maxSequences, recompute: recompute)
    }
}
