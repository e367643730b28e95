import Kernels

/// y = x · Wᵀ and its backward, through sgemm. Dimensions: N tokens, I inputs, O outputs.
enum Linear {
    /// y[N, O] = x[N, I] · w[O, I]ᵀ
    static func forward(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                        N: Int, I: Int, O: Int) {
        BLAS.sgemm(transB: true, m: N, n: O, k: I, a: x, lda: I, b: w, ldb: I, c: y, ldc: O)
    }

    /// dx[N, I] = (or += when `accumulate`) dy[N, O] · w[O, I]; dw[O, I] += dyᵀ · x (skipped when nil: frozen).
    static func backward(dx: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>?, _ dy: UnsafePointer<Float>,
                         _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, N: Int, I: Int, O: Int, accumulate: Bool = false) {
        if let dx {
            BLAS.sgemm(m: N, n: I, k: O, a: dy, lda: O, b: w, ldb: I, beta: accumulate ? 1 : 0, c: dx, ldc: I)
        }
        if let dw {
            BLAS.sgemm(transA: true, m: O, n: I, k: N, a: dy, lda: O, b: x, ldb: I, beta: 1, c: dw, ldc: I)
        }
    }
}
