import PolyKernels

extension Matrix {
    /// out[T, cols] = (or += with `accumulate`) dy[T, rows] · W: the input gradient of
    /// y = x · Wᵀ (a training backward through a frozen weight). F32 goes to sgemm; bf16
    /// and f16 rows are widened to f32 one 512-row panel at a time (exact) and each panel's
    /// share of the sum over rows is added by sgemm, so the products and the sum are f32 as
    /// with f32 weights, and only one panel is ever held in f32.
    public func applyTransposed(_ dy: UnsafePointer<Float>, tokens T: Int, into out: UnsafeMutablePointer<Float>,
                                accumulate: Bool) {
        precondition(tensor.dtype == .f32 || tensor.dtype == .bf16 || tensor.dtype == .f16,
                     "applyTransposed takes f32, bf16 or f16 weights, not \(tensor.dtype)")
        if T == 0 { return }
        if tensor.dtype == .f32 {
            BLAS.sgemm(m: T, n: cols, k: rows, a: dy, lda: rows, b: f32, ldb: cols, beta: accumulate ? 1 : 0, c: out, ldc: cols)
            return
        }
        let panel = FloatBuffer(count: min(Matrix.panelRows, rows) * cols, zeroed: false)
        var r0 = 0
        while r0 < rows {
            let n = min(Matrix.panelRows, rows - r0)
            if tensor.dtype == .bf16 {
                pk_bf16_to_f32(panel.pointer, u16 + r0 * cols, n * cols)
            } else {
                pk_f16_to_f32(panel.pointer, u16 + r0 * cols, n * cols)
            }
            // out += dy[:, r0 ..< r0 + n] · W[r0 ..< r0 + n, :]
            BLAS.sgemm(m: T, n: cols, k: n, a: dy + r0, lda: rows, b: panel.pointer, ldb: cols,
                       beta: accumulate || r0 > 0 ? 1 : 0, c: out, ldc: cols)
            r0 += n
        }
    }
}
