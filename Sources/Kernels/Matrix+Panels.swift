import Dispatch
import PolyKernels

/// Products of a bf16 / f16 matrix through f32 panels, for training: the forward
/// y = x · Wᵀ and the input gradient dx = dy · W of a frozen weight kept in its stored
/// dtype. Each 512-row panel is widened to f32 (exact) in a caller-owned scratch, split
/// over `threads`, and multiplied by sgemm, so the products and sums are f32 as with f32
/// weights and only one panel is ever held in f32 (no allocation per call).
extension Matrix {
    /// Floats of the scratch the panel products need.
    public var panelScratchCount: Int { min(Matrix.panelRows, rows) * cols }

    /// out[T, rows] = x[T, cols] · Wᵀ.
    public func applyWidened(_ x: UnsafePointer<Float>, tokens T: Int, into out: UnsafeMutablePointer<Float>,
                             scratch: FloatBuffer, threads: Int) {
        if T == 0 { return }
        if tensor.dtype == .f32 {
            BLAS.sgemm(transB: true, m: T, n: rows, k: cols, a: x, lda: cols, b: f32, ldb: cols, c: out, ldc: rows)
            return
        }
        forEachPanel(rows: 0..<rows, scratch: scratch, threads: threads) { r0, n, panel in
            BLAS.sgemm(transB: true, m: T, n: n, k: cols, a: x, lda: cols, b: panel, ldb: cols, c: out + r0, ldc: rows)
        }
    }

    /// out[T, cols] = (or += with `accumulate`) dy[T, rows] · W: the input gradient of y = x · Wᵀ.
    public func applyTransposed(_ dy: UnsafePointer<Float>, tokens T: Int, into out: UnsafeMutablePointer<Float>,
                                accumulate: Bool, scratch: FloatBuffer, threads: Int) {
        if T == 0 { return }
        if tensor.dtype == .f32 {
            BLAS.sgemm(m: T, n: cols, k: rows, a: dy, lda: rows, b: f32, ldb: cols, beta: accumulate ? 1 : 0, c: out, ldc: cols)
            return
        }
        forEachPanel(rows: 0..<rows, scratch: scratch, threads: threads) { r0, n, panel in
            // out += dy[:, r0 ..< r0 + n] · W[r0 ..< r0 + n, :]
            BLAS.sgemm(m: T, n: cols, k: n, a: dy + r0, lda: rows, b: panel, ldb: cols,
                       beta: accumulate || r0 > 0 ? 1 : 0, c: out, ldc: cols)
        }
    }

    /// Widens `rows` into `scratch` panel by panel (rows r0 ..< r0 + n, n ≤ 512, the widening
    /// split over `threads`) and hands each on.
    func forEachPanel(rows range: Range<Int>, scratch: FloatBuffer, threads: Int,
                      _ body: (_ r0: Int, _ n: Int, _ panel: UnsafePointer<Float>) -> Void) {
        precondition(tensor.dtype == .bf16 || tensor.dtype == .f16, "panel products take bf16 or f16 weights, not \(tensor.dtype)")
        precondition(scratch.count >= panelScratchCount, "panel scratch of \(scratch.count) floats, \(panelScratchCount) needed")
        let bf16 = tensor.dtype == .bf16, w = UnsafeSendablePointer(u16), p = UnsafeMutableSendablePointer(scratch.pointer)
        var r0 = range.lowerBound
        while r0 < range.upperBound {
            let n = min(Matrix.panelRows, range.upperBound - r0), total = n * cols, start = r0 * cols
            let workers = Matrix.workers(for: total, threads: threads), chunk = (total + workers - 1) / workers
            DispatchQueue.concurrentPerform(iterations: workers) { part in
                let lo = part * chunk, count = min(chunk, total - lo)
                guard count > 0 else { return }
                if bf16 { pk_bf16_to_f32(p.pointer + lo, w.pointer + start + lo, count) }
                else { pk_f16_to_f32(p.pointer + lo, w.pointer + start + lo, count) }
            }
            body(r0, n, scratch.pointer)
            r0 += n
        }
    }
}
