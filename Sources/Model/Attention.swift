import Checkpoint
import Dispatch
import Foundation
import Kernels
import PolyKernels

/// Causal self-attention with grouped KV heads, optional QK-norm (OLMoE) and clipping.
public struct Attention: Sendable {
    public let q: Matrix, k: Matrix, v: Matrix, o: Matrix
    /// RMSNorm weights over the whole q / k projection (OLMoE), applied before RoPE.
    public let qNorm: [Float]?, kNorm: [Float]?
    public let clip: Float?
    public let heads: Int, kvHeads: Int, headDim: Int
    public let normEps: Float

    public init(q: Matrix, k: Matrix, v: Matrix, o: Matrix, qNorm: [Float]? = nil, kNorm: [Float]? = nil,
                config: ModelConfig) {
        (self.q, self.k, self.v, self.o) = (q, k, v, o)
        (self.qNorm, self.kNorm) = (qNorm, kNorm)
        clip = config.clipQkv
        heads = config.numAttentionHeads
        kvHeads = config.numKeyValueHeads
        headDim = config.headDim
        normEps = config.rmsNormEps
    }

    /// out[N, D] = attention over `x`[N, D] (already normalised) for the chunks' tokens,
    /// writing their keys and values into the chunks' caches at `layer`.
    func forward(_ x: UnsafePointer<Float>, tokens N: Int, chunks: [SequenceChunk], layer: Int,
                 rope: RoPE, ropeTables: (cos: FloatBuffer, sin: FloatBuffer), out: UnsafeMutablePointer<Float>) {
        let qDim = heads * headDim, kvDim = kvHeads * headDim
        let qs = FloatBuffer(count: N * qDim), ks = FloatBuffer(count: N * kvDim), vs = FloatBuffer(count: N * kvDim)
        q.apply(x, tokens: N, into: qs.pointer)
        k.apply(x, tokens: N, into: ks.pointer)
        v.apply(x, tokens: N, into: vs.pointer)
        if let qNorm { pk_rmsnorm(qs.pointer, qs.pointer, qNorm, N, qDim, normEps) }
        if let kNorm { pk_rmsnorm(ks.pointer, ks.pointer, kNorm, N, kvDim, normEps) }
        // transformers' OLMoE clamps after QK-norm (original OLMo code clamps the fused
        // projection before it); HF checkpoints and their reference outputs follow HF.
        if let clip {
            for b in [qs, ks, vs] { for i in 0..<b.count { b[i] = min(max(b[i], -clip), clip) } }
        }
        rope.apply(qs.pointer, ld: qDim, tokens: N, heads: heads, tables: ropeTables)
        rope.apply(ks.pointer, ld: kvDim, tokens: N, heads: kvHeads, tables: ropeTables)

        let context = FloatBuffer(count: N * qDim)
        let scale = 1 / Float(headDim).squareRoot()
        var row = 0
        for chunk in chunks {
            let n = chunk.tokens.count, start = chunk.cache.count, total = start + n
            let kc = chunk.cache.keys(layer: layer), vc = chunk.cache.values(layer: layer)
            (kc + start * kvDim).update(from: ks.pointer + row * kvDim, count: n * kvDim)
            (vc + start * kvDim).update(from: vs.pointer + row * kvDim, count: n * kvDim)
            let group = heads / kvHeads
            if n == 1 {
                // Decode: one query per head; a plain loop beats two BLAS calls per head.
                let scores = FloatBuffer(count: heads * total)
                let q = UnsafeSendable(qs.pointer + row * qDim), ctx = UnsafeSendable(context.pointer + row * qDim)
                let kp = UnsafeSendable(kc), vp = UnsafeSendable(vc), sp = UnsafeSendable(scores.pointer)
                let hd = headDim
                let work = { (h: Int) in
                    let g = h / group
                    pk_attend_one(ctx.pointer + h * hd, q.pointer + h * hd, kp.pointer + g * hd, vp.pointer + g * hd,
                                  kvDim, total, hd, scale, sp.pointer + h * total)
                }
                if total * heads * hd < 1 << 16 {
                    for h in 0..<heads { work(h) }
                } else {
                    DispatchQueue.concurrentPerform(iterations: heads, execute: work)
                }
                row += 1
                continue
            }
            let scores = FloatBuffer(count: n * total)
            let valid = (0..<n).map { start + $0 + 1 }
            for h in 0..<heads {
                let g = h / group
                // scores[n, total] = q_h · k_gᵀ / √hd
                BLAS.sgemm(transB: true, m: n, n: total, k: headDim, alpha: scale,
                           a: qs.pointer + row * qDim + h * headDim, lda: qDim,
                           b: kc + g * headDim, ldb: kvDim, c: scores.pointer, ldc: total)
                pk_softmax_causal(scores.pointer, total, valid, n)
                // context[n, hd] = scores · v_g
                BLAS.sgemm(m: n, n: headDim, k: total, a: scores.pointer, lda: total,
                           b: vc + g * headDim, ldb: kvDim, c: context.pointer + row * qDim + h * headDim, ldc: qDim)
            }
            row += n
        }
        o.apply(context.pointer, tokens: N, into: out)
    }
}

/// A pointer handed to worker threads that write disjoint parts of its memory.
struct UnsafeSendable<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}
