import Kernels

/// The shape of one forward pass: B sequences of T tokens of a model. Dimension letters:
/// N = B·T tokens, D hidden, F intermediate (per expert for MoE), V vocabulary, H / KV heads,
/// hd head dim, E experts, K experts per token.
struct PassShape {
    let B: Int, T: Int, D: Int, F: Int, V: Int, qDim: Int, kvDim: Int, heads: Int, gated: Bool
    var qkNorm = false, clip = false
    var sparse: SparseShape? = nil
    var N: Int { B * T }
    /// Width of the dense MLP's buffers (none for MoE layers).
    var denseF: Int { sparse == nil ? F : 0 }
    /// Whether the raw q and k projections are kept (QK-norm or clip_qkv).
    var keepsRaw: Bool { qkNorm || clip }
}

/// What one layer's forward keeps for its backward (everything but its input).
final class LayerActivations {
    let rstd1: FloatBuffer      // [N]
    let norm1: FloatBuffer      // [N, D]
    let qRaw: FloatBuffer?      // [N, qDim] q_proj output (QK-norm or clip_qkv)
    let kRaw: FloatBuffer?      // [N, kvDim]
    let rstdQ: FloatBuffer      // [N] QK-norm's inverse RMS (empty without QK-norm)
    let rstdK: FloatBuffer      // [N]
    let q: FloatBuffer          // [N, qDim] after QK-norm, clip and RoPE
    let k: FloatBuffer          // [N, kvDim] after QK-norm, clip and RoPE
    let v: FloatBuffer          // [N, kvDim]
    let probs: FloatBuffer      // [B, H, T, T]
    let context: FloatBuffer    // [N, qDim] (o_proj input)
    let mid: FloatBuffer        // [N, D] residual after attention
    let rstd2: FloatBuffer      // [N]
    let norm2: FloatBuffer      // [N, D]
    let up: FloatBuffer         // [N, F] up projection (the activation's input when plain)
    let gate: FloatBuffer?      // [N, F] gate projection (gated MLPs)
    let act: FloatBuffer        // [N, F] down_proj input
    let polyInv: FloatBuffer    // [N, 3] PolyNorm's inverse norms
    let sparse: SparseActivations? // MoE layers: router and experts

    init(_ s: PassShape) {
        let N = s.N, F = s.denseF
        rstd1 = FloatBuffer(count: N); norm1 = FloatBuffer(count: N * s.D)
        qRaw = s.keepsRaw ? FloatBuffer(count: N * s.qDim) : nil; kRaw = s.keepsRaw ? FloatBuffer(count: N * s.kvDim) : nil
        rstdQ = FloatBuffer(count: s.qkNorm ? N : 0); rstdK = FloatBuffer(count: s.qkNorm ? N : 0)
        q = FloatBuffer(count: N * s.qDim); k = FloatBuffer(count: N * s.kvDim); v = FloatBuffer(count: N * s.kvDim)
        probs = FloatBuffer(count: s.B * s.heads * s.T * s.T)
        context = FloatBuffer(count: N * s.qDim); mid = FloatBuffer(count: N * s.D)
        rstd2 = FloatBuffer(count: N); norm2 = FloatBuffer(count: N * s.D)
        up = FloatBuffer(count: N * F); gate = s.gated && F > 0 ? FloatBuffer(count: N * F) : nil
        act = FloatBuffer(count: N * F); polyInv = FloatBuffer(count: F > 0 ? N * 3 : 0)
        sparse = s.sparse.map { SparseActivations($0, N: N, D: s.D, F: s.F, gated: s.gated) }
    }

    static func floats(_ s: PassShape) -> Int {
        let N = s.N, F = s.denseF
        let raw = s.keepsRaw ? N * (s.qDim + s.kvDim) : 0, qk = s.qkNorm ? 2 * N : 0
        let sparse = s.sparse.map { SparseActivations.floats($0, N: N, D: s.D, F: s.F, gated: s.gated) } ?? 0
        return 2 * N + N * (3 * s.D + 2 * s.qDim + 2 * s.kvDim + (s.gated ? 3 : 2) * F + (F > 0 ? 3 : 0))
            + s.B * s.heads * s.T * s.T + raw + qk + sparse
    }
}

/// Every saved activation of one pass, and the gradient scratch of its backward.
/// With recomputation only the layer inputs are kept and one LayerActivations is re-filled
/// per layer during the backward.
final class ModelActivations {
    let shape: PassShape
    let recompute: Bool
    let inputs: [FloatBuffer]   // L + 1 × [N, D]: each layer's input, then the final norm's
    let layers: [LayerActivations]
    let rstdFinal: FloatBuffer  // [N]
    let normFinal: FloatBuffer  // [N, D]
    let logits: FloatBuffer     // [N, V], its gradient in place during the backward
    let tokens: UnsafeMutablePointer<Int32>  // [N] (the embedding backward reads them)
    let targets: UnsafeMutablePointer<Int32> // [N]

    // Backward scratch.
    let dResidual: FloatBuffer  // [N, D]
    let dNorm: FloatBuffer      // [N, D]
    let dq: FloatBuffer, dk: FloatBuffer, dv: FloatBuffer, dContext: FloatBuffer
    let dqRaw: FloatBuffer?, dkRaw: FloatBuffer? // QK-norm's input gradients
    let dAct: FloatBuffer, dUp: FloatBuffer, dGate: FloatBuffer?
    let sparse: SparseScratch?  // MoE: the experts' gather buffers and gradients
    let attentionScratch: FloatBuffer // 2 × [T, T]

    init(_ s: PassShape, layers L: Int, recompute: Bool) {
        shape = s
        self.recompute = recompute
        let N = s.N
        inputs = (0...L).map { _ in FloatBuffer(count: N * s.D) }
        layers = (0..<(recompute ? 1 : L)).map { _ in LayerActivations(s) }
        rstdFinal = FloatBuffer(count: N); normFinal = FloatBuffer(count: N * s.D)
        logits = FloatBuffer(count: N * s.V)
        tokens = .allocate(capacity: max(N, 1))
        targets = .allocate(capacity: max(N, 1))
        dResidual = FloatBuffer(count: N * s.D); dNorm = FloatBuffer(count: N * s.D)
        dq = FloatBuffer(count: N * s.qDim); dk = FloatBuffer(count: N * s.kvDim); dv = FloatBuffer(count: N * s.kvDim)
        dContext = FloatBuffer(count: N * s.qDim)
        dqRaw = s.qkNorm ? FloatBuffer(count: N * s.qDim) : nil; dkRaw = s.qkNorm ? FloatBuffer(count: N * s.kvDim) : nil
        let F = s.denseF
        dAct = FloatBuffer(count: N * F); dUp = FloatBuffer(count: N * F); dGate = s.gated && F > 0 ? FloatBuffer(count: N * F) : nil
        sparse = s.sparse.map { SparseScratch($0, N: N, D: s.D, F: s.F, gated: s.gated) }
        attentionScratch = FloatBuffer(count: 2 * s.T * s.T)
    }

    deinit { tokens.deallocate(); targets.deallocate() }

    func layer(_ l: Int) -> LayerActivations { layers[recompute ? 0 : l] }

    /// Floats held by a pass of this shape (for the memory estimate).
    static func floats(_ s: PassShape, layers L: Int, recompute: Bool) -> Int {
        let N = s.N
        let saved = (L + 1) * N * s.D + (recompute ? 1 : L) * LayerActivations.floats(s)
        let final = N + N * s.D + N * s.V + N / 2
        let scratch = N * (2 * s.D + 2 * s.qDim + 2 * s.kvDim + (s.gated ? 3 : 2) * s.denseF) + 2 * s.T * s.T
            + (s.qkNorm ? N * (s.qDim + s.kvDim) : 0)
            + (s.sparse.map { SparseScratch.floats($0, N: N, D: s.D, F: s.F, gated: s.gated) } ?? 0)
        return saved + final + scratch
    }
}
