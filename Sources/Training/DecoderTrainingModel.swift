import Checkpoint
import Foundation
import Kernels
import Model
import PolyKernels

/// The MLP of a layer: dense (plain or gated) or routed experts.
enum FeedForwardParams {
    case dense(up: Param, down: Param, gate: Param?)
    case sparse(SparseBlock)
}

/// One layer's parameters of the decoder (polyllama, llama, olmoe).
struct DecoderLayerParams {
    let inputNorm: Param, q: Param, k: Param, v: Param, o: Param, postNorm: Param
    /// OLMoE's QK-norm over the whole q and k projections.
    let qNorm: Param?, kNorm: Param?
    let feedForward: FeedForwardParams
    /// PolyCom coefficients `mlp.act_fn.weight` [3] and `.bias` [1] (shared by a layer's experts).
    let actWeight: Param?, actBias: Param?

    init(_ store: ParameterStore, _ c: ModelConfig, gated: Bool, sparse: Bool, layer i: Int, adapters lora: LoRAAdapters?) {
        let p = "model.layers.\(i)."
        func projection(_ name: String) -> Param { Param(store, name, adapters: lora) }
        inputNorm = Param(store, p + "input_layernorm.weight")
        q = projection(p + "self_attn.q_proj.weight"); k = projection(p + "self_attn.k_proj.weight")
        v = projection(p + "self_attn.v_proj.weight"); o = projection(p + "self_attn.o_proj.weight")
        qNorm = sparse ? Param(store, p + "self_attn.q_norm.weight") : nil
        kNorm = sparse ? Param(store, p + "self_attn.k_norm.weight") : nil
        postNorm = Param(store, p + "post_attention_layernorm.weight")
        func mlp(_ x: String) -> (Param, Param, Param?) {
            (projection(x + "up_proj.weight"), projection(x + "down_proj.weight"), gated ? projection(x + "gate_proj.weight") : nil)
        }
        if sparse {
            let experts = (0..<(c.numExperts ?? 0)).map { e in
                let (up, down, gate) = mlp(p + "mlp.experts.\(e).")
                return ExpertParams(up: up, down: down, gate: gate)
            }
            feedForward = .sparse(SparseBlock(router: Param(store, p + "mlp.gate.weight"), experts: experts,
                                              topK: c.numExpertsPerTok ?? 1, normalizeTopK: c.normTopkProb,
                                              D: c.hiddenSize, F: c.intermediateSize))
        } else {
            let (up, down, gate) = mlp(p + "mlp.")
            feedForward = .dense(up: up, down: down, gate: gate)
        }
        actWeight = c.hiddenAct.isPolynomial ? Param(store, p + "mlp.act_fn.weight") : nil
        actBias = c.hiddenAct.isPolynomial ? Param(store, p + "mlp.act_fn.bias") : nil
    }

    /// [w0, w1, w2, b] as they are now.
    var coefficients: [Float] {
        guard let w = actWeight, let b = actBias else { return [0, 0, 0, 0] }
        return [w.w[0], w.w[1], w.w[2], b.w[0]]
    }
}

/// The Llama-family decoder in training form, dense or OLMoE-style MoE: forward with saved
/// activations, hand-written backward (DecoderTrainingModel+Backward.swift), f32 weights in
/// a ParameterStore.
public final class DecoderTrainingModel: TrainableModel {
    public let config: ModelConfig
    /// The trainable tensors: the model's own, or its LoRA adapters'.
    public var store: ParameterStore { lora?.store ?? base }
    /// The model's weights (all frozen with LoRA).
    public let base: ParameterStore
    public let lora: LoRAAdapters?
    public let seqLen: Int
    public let maxSequences: Int
    let layers: [DecoderLayerParams]
    let embedding: Param, finalNorm: Param, head: Param
    let attention: CausalAttention
    let activation: FeedForwardActivation
    let acts: ModelActivations
    let ropeCos: FloatBuffer, ropeSin: FloatBuffer // [maxSequences·T, hd/2]
    /// MoE only: the router losses of the pass in flight and the routing counts.
    let routerLosses: RouterLosses?

    /// `routerAux` and `routerZ` weigh the MoE router losses (ignored by dense models). With
    /// `lora` the base tensors are frozen and only the adapters train.
    public init(config c: ModelConfig, store: ParameterStore, seqLen T: Int, maxSequences B: Int, recompute: Bool = false,
                routerAux: Float = 0.01, routerZ: Float = 0.001, lora: LoRAAdapters? = nil) throws {
        let arch = try Architectures.of(c)
        guard Self.trains(arch) else {
            throw TrainingError.invalidModel("model_type \(c.modelType) is not trainable (polyllama, llama, olmoe)")
        }
        let gated = arch.isGated(c), sparse = arch == OLMoE.self
        config = c
        base = store
        self.lora = lora
        if lora != nil, store.trainableCount > 0 {
            throw TrainingError.invalidModel("with LoRA adapters the base store must be built frozen (ParameterStore(frozen:))")
        }
        seqLen = T
        maxSequences = B
        layers = (0..<c.numHiddenLayers).map { DecoderLayerParams(store, c, gated: gated, sparse: sparse, layer: $0, adapters: lora) }
        embedding = Param(store, "model.embed_tokens.weight")
        finalNorm = Param(store, "model.norm.weight")
        head = c.tieWordEmbeddings ? embedding : Param(store, "lm_head.weight")
        attention = CausalAttention(heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads, headDim: c.headDim)
        activation = FeedForwardActivation(kind: c.hiddenAct, gated: gated)
        acts = ModelActivations(try Self.shape(c, seqLen: T, sequences: B), layers: c.numHiddenLayers, recompute: recompute)
        (ropeCos, ropeSin) = Self.ropeTables(RoPE(config: c), positions: (0..<(B * T)).map { $0 % T })
        routerLosses = sparse ? RouterLosses(layers: c.numHiddenLayers, experts: c.numExperts ?? 0, topK: c.numExpertsPerTok ?? 1,
                                             aux: routerAux, z: routerZ) : nil
    }

    /// The architectures this model trains.
    static func trains(_ arch: any Architecture.Type) -> Bool { arch == PolyLlama.self || arch == Llama.self || arch == OLMoE.self }

    static func shape(_ c: ModelConfig, seqLen T: Int, sequences B: Int) throws -> PassShape {
        let arch = try Architectures.of(c), sparse = arch == OLMoE.self
        return PassShape(B: B, T: T, D: c.hiddenSize, F: c.intermediateSize, V: c.vocabSize, qDim: c.qDim, kvDim: c.kvDim,
                         heads: c.numAttentionHeads, gated: arch.isGated(c), qkNorm: sparse, clip: c.clipQkv != nil,
                         sparse: sparse ? SparseShape(E: c.numExperts ?? 0, K: c.numExpertsPerTok ?? 1) : nil)
    }

    /// Bytes of activations one pass of B sequences of T tokens holds.
    public static func activationBytes(_ c: ModelConfig, seqLen T: Int, sequences B: Int, recompute: Bool) throws -> Int {
        4 * ModelActivations.floats(try shape(c, seqLen: T, sequences: B), layers: c.numHiddenLayers, recompute: recompute)
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

    public func accumulateGradients(tokens: [Int32], targets: [Int32], lossScale: Float, routerScale: Float) throws -> PassLoss {
        let B = try load(tokens, targets)
        forward(B: B)
        var loss = PassLoss(ce: backward(B: B, lossScale: lossScale, routerScale: routerScale))
        if let r = routerLosses { (loss.aux, loss.z, loss.weighted) = (r.loadBalancing, r.zLoss, r.weighted) }
        return loss
    }

    public func takeRouterCounts() -> [[Int]]? { routerLosses?.takeCounts() }

    public func loss(tokens: [Int32], targets: [Int32]) throws -> Double {
        let B = try load(tokens, targets)
        forward(B: B, training: false)
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
        for (i, t) in tokens.enumerated() { embedding.copyRow(Int(t), width: D, into: x + i * D) }
        tokens.withUnsafeBufferPointer { acts.tokens.update(from: $0.baseAddress!, count: tokens.count) }
        targets.withUnsafeBufferPointer { acts.targets.update(from: $0.baseAddress!, count: targets.count) }
        return tokens.count / T
    }

    /// Layers, final norm and LM head over the embedded inputs. Training passes feed the
    /// router losses and counts; evaluation passes leave them alone.
    func forward(B: Int, training: Bool = true) {
        let c = config, N = B * seqLen
        if training { routerLosses?.reset() }
        if let state = lora?.state {
            state.training = training
            if training { state.pass += 1 }
        }
        for l in 0..<layers.count {
            forwardLayer(l, B: B)
            if training, let r = routerLosses, let sparse = acts.layer(l).sparse { r.record(layer: l, sparse, N: N) }
        }
        pk_rmsnorm_forward(acts.normFinal.pointer, acts.rstdFinal.pointer, acts.inputs[layers.count].pointer, finalNorm.w,
                           N, c.hiddenSize, c.rmsNormEps)
        head.forward(acts.logits.pointer, acts.normFinal.pointer, N: N, I: c.hiddenSize, O: c.vocabSize)
    }

    /// h = x + o(attn(norm(x))); out = h + mlp(norm(h)) — inputs[l] to inputs[l + 1].
    func forwardLayer(_ l: Int, B: Int) {
        let c = config, w = layers[l], a = acts.layer(l)
        let N = B * seqLen, D = c.hiddenSize, F = c.intermediateSize
        let x = acts.inputs[l].pointer, out = acts.inputs[l + 1].pointer
        pk_rmsnorm_forward(a.norm1.pointer, a.rstd1.pointer, x, w.inputNorm.w, N, D, c.rmsNormEps)
        projectQKV(w, a, N: N)
        pk_rope(a.q.pointer, c.qDim, ropeCos.pointer, ropeSin.pointer, N, c.numAttentionHeads, c.headDim)
        pk_rope(a.k.pointer, c.kvDim, ropeCos.pointer, ropeSin.pointer, N, c.numKeyValueHeads, c.headDim)
        attention.forward(context: a.context.pointer, probs: a.probs.pointer, q: a.q.pointer, k: a.k.pointer, v: a.v.pointer,
                          B: B, T: seqLen)
        w.o.forward(a.mid.pointer, a.context.pointer, N: N, I: c.qDim, O: D)
        pk_add(a.mid.pointer, a.mid.pointer, x, N * D)
        pk_rmsnorm_forward(a.norm2.pointer, a.rstd2.pointer, a.mid.pointer, w.postNorm.w, N, D, c.rmsNormEps)
        switch w.feedForward {
        case let .dense(up, down, gate):
            up.forward(a.up.pointer, a.norm2.pointer, N: N, I: D, O: F)
            if let gate { gate.forward(a.gate!.pointer, a.norm2.pointer, N: N, I: D, O: F) }
            activation.forward(out: a.act.pointer, inv: a.polyInv.pointer, up: a.up.pointer, gate: a.gate?.pointer,
                               coef: w.coefficients, N: N, F: F)
            down.forward(out, a.act.pointer, N: N, I: F, O: D)
        case let .sparse(block):
            block.forward(out: out, x: a.norm2.pointer, saved: a.sparse!, scratch: acts.sparse!, activation: activation,
                          coef: w.coefficients, N: N)
        }
        pk_add(out, out, a.mid.pointer, N * D)
    }

    /// q, k, v from norm1; with QK-norm the raw projections are kept for the backward, and
    /// clip_qkv clamps after the norm (as transformers' OLMoE).
    private func projectQKV(_ w: DecoderLayerParams, _ a: LayerActivations, N: Int) {
        let c = config, D = c.hiddenSize
        let keepsRaw = a.qRaw != nil
        w.q.forward(keepsRaw ? a.qRaw!.pointer : a.q.pointer, a.norm1.pointer, N: N, I: D, O: c.qDim)
        w.k.forward(keepsRaw ? a.kRaw!.pointer : a.k.pointer, a.norm1.pointer, N: N, I: D, O: c.kvDim)
        w.v.forward(a.v.pointer, a.norm1.pointer, N: N, I: D, O: c.kvDim)
        for (dst, rstd, raw, norm, width) in [(a.q, a.rstdQ, a.qRaw, w.qNorm, c.qDim), (a.k, a.rstdK, a.kRaw, w.kNorm, c.kvDim)] {
            guard let raw else { continue }
            if let norm { pk_rmsnorm_forward(dst.pointer, rstd.pointer, raw.pointer, norm.w, N, width, c.rmsNormEps) }
            else { dst.pointer.update(from: raw.pointer, count: N * width) }
        }
        if let clip = c.clipQkv {
            for (b, n) in [(a.q.pointer, N * c.qDim), (a.k.pointer, N * c.kvDim), (a.v.pointer, N * c.kvDim)] {
                for i in 0..<n { b[i] = min(max(b[i], -clip), clip) }
            }
        }
    }
}

extension DecoderTrainingModel {
    /// A checkpoint folder's weights as f32 parameters (names and shapes checked by the
    /// same binding the inference loader uses; fused expert layouts come out per expert).
    /// With `lora`, the base is frozen (its bf16 / f16 matrices stay in that dtype) and the
    /// adapters are new (seeded by `seed`) or those of the PEFT folder `adapter`.
    public static func load(path: String, seqLen: Int, maxSequences: Int, recompute: Bool = false,
                            routerAux: Float = 0.01, routerZ: Float = 0.001, lora: LoRAConfig? = nil, adapter: String? = nil,
                            seed: UInt64 = 0) throws -> DecoderTrainingModel {
        let folder = try CheckpointFolder(path: path)
        let c = folder.config
        let specs = try Architectures.of(c).weights(c)
        let tensors = try folder.bind(specs, optional: c.tieWordEmbeddings ? ["lm_head.weight"] : [])
        let adapters = try lora.map { try LoRAAdapters(config: $0, baseSpecs: specs, rows: seqLen * maxSequences, seed: seed) }
        if let adapter { try adapters?.load(folder: adapter) }
        let frozen = lora == nil ? [] : Set(specs.map(\.name))
        return try DecoderTrainingModel(config: c, store: try ParameterStore(specs, values: tensors, frozen: frozen), seqLen: seqLen,
                                        maxSequences: maxSequences, recompute: recompute, routerAux: routerAux, routerZ: routerZ,
                                        lora: adapters)
    }
}
