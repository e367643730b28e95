import PolyKernels

/// Decode products (fewer than `panelThreshold` tokens on bf16, f16 or q8 weights): each
/// weight row is streamed once from memory by the row kernels (matmul_simd.c, matmul_q8.c),
/// rows shared across cores.
///
/// The threads take rows from a shared counter (pk_*_claim; a quarter of the rows left at a
/// time, at least `chunkRows`) rather than a fixed half each: on a machine shared with other
/// processes one of two cores is often taken for a while, and with fixed halves every product
/// waited for the slower one. Several products of the same input (attention's q, k and v; a
/// gated MLP's gate and up) run in one hand-off to the threads: a thread done with one
/// product's rows goes on to the next one's instead of waiting for the others at the end of each.
extension Matrix {
    /// Bytes of weights of the smallest claim (the last ones of a product): 64 KiB is ~4 µs
    /// of reading at 15 GB/s per core, so the threads finish a product about that close.
    static let chunkBytes = 64 << 10

    /// Whether `apply` with `tokens` tokens streams rows through the decode kernels.
    public func streams(tokens T: Int) -> Bool {
        tensor.dtype != .f32 && T < Matrix.panelThreshold
    }

    /// Rows of the smallest claim: whole 4-row groups (the portable 4 × 4 tiles' and VNNI's row
    /// pairs' multiple; claims stay on them, so a row's sums do not depend on the split),
    /// about `chunkBytes` of this matrix's rows.
    var chunkRows: Int {
        let rowBytes = max(1, byteCount / max(1, rows))
        return max(4, Matrix.chunkBytes / rowBytes / 4 * 4)
    }

    /// out_i[T, rows_i] = x[T, cols] · W_iᵀ for each (W_i, out_i) — all the same `cols` — in one
    /// hand-off to the threads when every W_i streams; otherwise one `apply` each.
    public static func apply(_ products: [(matrix: Matrix, out: UnsafeMutablePointer<Float>)], to x: UnsafePointer<Float>,
                             tokens T: Int, options: ComputeOptions) {
        guard T > 0, !products.isEmpty else { return }
        guard products.allSatisfy({ $0.matrix.streams(tokens: T) && $0.matrix.cols == products[0].matrix.cols }) else {
            for p in products { p.matrix.apply(x, tokens: T, into: p.out, options: options) }
            return
        }
        stream(products.map { ($0.matrix, $0.out, $0.matrix.rows) }, x, T: T, options: options)
    }

    /// The streaming path of `apply` (one product, any `ldo`).
    func stream(_ x: UnsafePointer<Float>, T: Int, out: UnsafeMutablePointer<Float>, ldo: Int, options: ComputeOptions) {
        Matrix.stream([(self, out, ldo)], x, T: T, options: options)
    }

    private static func stream(_ products: [(matrix: Matrix, out: UnsafeMutablePointer<Float>, ldo: Int)],
                               _ x: UnsafePointer<Float>, T: Int, options: ComputeOptions) {
        let next = UnsafeMutablePointer<Int>.allocate(capacity: products.count)
        defer { next.deallocate() }
        next.initialize(repeating: 0, count: products.count)
        let workers = workers(for: products.reduce(0) { $0 + $1.matrix.rows * $1.matrix.cols }, threads: options.threads)
        let counters = UnsafeMutableSendablePointer(next), xs = UnsafeSendablePointer(x), isa = options.kernels.rawValue
        let jobs = products.map { (matrix: $0.matrix, out: UnsafeMutableSendablePointer($0.out), ldo: $0.ldo) }
        let run: @Sendable (Int) -> Void = { _ in
            for (i, job) in jobs.enumerated() {
                job.matrix.claimRows(xs.pointer, T: T, out: job.out.pointer, ldo: job.ldo, isa: isa,
                                     chunk: workers == 1 ? job.matrix.rows : job.matrix.chunkRows, next: counters.pointer + i)
            }
        }
        WorkerPool.shared(threads: workers).run(parts: workers, run)
        // Rows no thread took: q8 threads that could not allocate their quantised activations
        // take none, so these are left only when all of them failed.
        for (i, p) in products.enumerated() where next[i] < p.matrix.rows {
            p.matrix.q8Panels(x, T: T, out: p.out, ldo: p.ldo, rows: next[i]..<p.matrix.rows)
        }
    }

    /// Rows taken from `next` until none are left.
    private func claimRows(_ x: UnsafePointer<Float>, T: Int, out: UnsafeMutablePointer<Float>, ldo: Int, isa: Int32,
                           chunk: Int, next: UnsafeMutablePointer<Int>) {
        let base = tensor.bytes.baseAddress!
        switch tensor.dtype {
        case .i8:
            _ = pk_matmul_q8_claim(isa, out, ldo, x, base.assumingMemoryBound(to: Int8.self),
                                   scales!.bytes.baseAddress!.assumingMemoryBound(to: UInt16.self),
                                   q8BlockSums?.pointer.assumingMemoryBound(to: Int16.self), T, rows, cols, chunk, next)
        case .bf16:
            pk_matmul_bf16_claim(isa, out, ldo, x, base.assumingMemoryBound(to: UInt16.self), T, rows, cols, chunk, next)
        default:
            pk_matmul_f16_claim(isa, out, ldo, x, base.assumingMemoryBound(to: UInt16.self), T, rows, cols, chunk, next)
        }
    }
}
