import Kernels
import PolyKernels

/// Causal softmax attention with grouped KV heads over B sequences of T tokens, forward
/// and backward side by side. q [B·T, H·hd], k and v [B·T, KV·hd] (after RoPE); query head
/// h reads KV head h / (H / KV). probs [B, H, T, T] is kept for the backward.
struct CausalAttention {
    let heads: Int, kvHeads: Int, headDim: Int

    var scale: Float { 1 / Float(headDim).squareRoot() }
    var qDim: Int { heads * headDim }
    var kvDim: Int { kvHeads * headDim }

    /// context[B·T, H·hd] = softmax(q kᵀ · scale, causal) · v per (sequence, head).
    func forward(context: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                 q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, B: Int, T: Int) {
        let group = heads / kvHeads, hd = headDim
        let valid = (0..<T).map { $0 + 1 }
        for b in 0..<B {
            for h in 0..<heads {
                let g = h / group, p = probs + (b * heads + h) * T * T
                let rows = b * T
                BLAS.sgemm(transB: true, m: T, n: T, k: hd, alpha: scale, a: q + rows * qDim + h * hd, lda: qDim,
                           b: k + rows * kvDim + g * hd, ldb: kvDim, c: p, ldc: T)
                pk_softmax_causal(p, T, valid, T)
                BLAS.sgemm(m: T, n: hd, k: T, a: p, lda: T, b: v + rows * kvDim + g * hd, ldb: kvDim,
                           c: context + rows * qDim + h * hd, ldc: qDim)
            }
        }
    }

    /// dq overwritten; dk, dv overwritten (summed over the query heads of each KV head).
    /// scratch holds 2·T·T floats.
    func backward(dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
                  dcontext: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                  q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                  B: Int, T: Int, scratch: UnsafeMutablePointer<Float>) {
        let group = heads / kvHeads, hd = headDim
        let dprobs = scratch, dscores = scratch + T * T
        dk.update(repeating: 0, count: B * T * kvDim)
        dv.update(repeating: 0, count: B * T * kvDim)
        for b in 0..<B {
            let rows = b * T
            for h in 0..<heads {
                let g = h / group, p = probs + (b * heads + h) * T * T
                let dO = dcontext + rows * qDim + h * hd
                let qh = q + rows * qDim + h * hd, kg = k + rows * kvDim + g * hd, vg = v + rows * kvDim + g * hd
                // dP[T, T] = dO · vᵀ;  dv += Pᵀ · dO
                BLAS.sgemm(transB: true, m: T, n: T, k: hd, a: dO, lda: qDim, b: vg, ldb: kvDim, c: dprobs, ldc: T)
                BLAS.sgemm(transA: true, m: T, n: hd, k: T, a: p, lda: T, b: dO, ldb: qDim, beta: 1,
                           c: dv + rows * kvDim + g * hd, ldc: kvDim)
                pk_softmax_causal_backward(dscores, p, dprobs, T, T, scale)
                // dq = dS · k;  dk += dSᵀ · q
                BLAS.sgemm(m: T, n: hd, k: T, a: dscores, lda: T, b: kg, ldb: kvDim,
                           c: dq + rows * qDim + h * hd, ldc: qDim)
                BLAS.sgemm(transA: true, m: T, n: hd, k: T, a: dscores, lda: T, b: qh, ldb: qDim, beta: 1,
                           c: dk + rows * kvDim + g * hd, ldc: kvDim)
            }
        }
    }
}
