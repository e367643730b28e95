import PolyKernels

/// A weight matrix W [rows, cols] applied as y = x · Wᵀ, kept in its stored dtype.
///
/// F32 goes straight to sgemm/sgemv. BF16 and F16 stay compressed in memory: up to
/// `panelThreshold` tokens (decode batches) a C kernel converts weights in registers
/// (intrinsics: one row at a time for 1–3 tokens, row × token tiles for more), rows shared across cores
/// (Matrix+Streaming.swift); more tokens (prefill)
/// go to a blocked bf16 GEMM that widens weights in registers (gemm_bf16.c; BLAS stays off
/// that path whatever family OpenBLAS runs: converted panels for its AVX-512 sgemm were ~1.2×
/// faster at 128 tokens on one Intel Xeon, and on an AMD EPYC with its Cooperlake kernels
/// 1.2–1.9× slower, 4-layer PolyNorm_1B prefill of 128 / 512 tokens 256–388 / 394–506 tok/s
/// against the GEMM's 471–496 / 534–554), while F16 converts 512-row panels to f32 and hands each panel to sgemm. q8 matrices (Matrix+Q8.swift)
/// hold int8 values in `tensor` (I8) and their per-block scales in `scales`; their prefill
/// runs the same blocked GEMM on the dequantised weights (gemm_q8.c).
public struct Matrix: @unchecked Sendable {
    public let tensor: Tensor
    /// q8 only: F16 [rows, ⌈cols/32⌉], one scale per block of 32 columns.
    public let scales: Tensor?
    /// q8 only, where VNNI runs batches with the tokens in vector lanes (whole blocks, a CPU
    /// with AVX512-VNNI): Int16 [rows, cols/32], each block's Σ value (pk_q8_block_sums),
    /// 1/16 of the values' bytes. Batches of 4 or more tokens start their sums from it.
    let q8BlockSums: ByteStorage?
    public let rows: Int
    public let cols: Int

    /// Below this many tokens the register-tiled bf16 kernel beats convert-then-sgemm
    /// (measured crossover between 32 and 64 tokens on PolyNorm_1B shapes); kept for the
    /// blocked bf16 GEMM, which pads tokens to 12-token tiles and packs weights per call.
    /// With matmul_simd.c's AVX-512 tiles (4 × 6 then) the row kernel stayed on par with the GEMM up
    /// to 64 tokens (one thread, CPU time over a 4-layer PolyNorm_1B's products: 40 tokens
    /// 131 vs 161 ms, 48 158 vs 159, 64 199 vs 215), so 40 is kept: it is below either
    /// family's crossover and prefill's 128 tokens are far past it.
    public static let panelThreshold = 40

    public static let panelRows = 512

    public init(_ tensor: Tensor) {
        precondition(tensor.shape.count == 2, "a matrix needs a 2-D tensor, got \(tensor.shape)")
        precondition([.f32, .bf16, .f16].contains(tensor.dtype), "unsupported weight dtype \(tensor.dtype)")
        self.tensor = tensor
        scales = nil
        q8BlockSums = nil
        rows = tensor.shape[0]
        cols = tensor.shape[1]
    }

    /// A q8 matrix from its int8 values [rows, cols] and F16 scales [rows, ⌈cols/32⌉].
    public init(q8 values: Tensor, scales: Tensor) {
        precondition(values.dtype == .i8 && values.shape.count == 2, "q8 values must be a 2-D I8 tensor")
        precondition(scales.dtype == .f16 && scales.shape == Matrix.q8ScaleShape(values.shape), "q8 scales do not match the values")
        tensor = values
        self.scales = scales
        rows = values.shape[0]
        cols = values.shape[1]
        q8BlockSums = Matrix.blockSums(values, rows: rows, cols: cols)
    }

    /// Bytes one pass over the matrix reads (values and scales).
    public var byteCount: Int { tensor.bytes.count + (scales?.bytes.count ?? 0) }

    var f32: UnsafePointer<Float> { tensor.bytes.baseAddress!.assumingMemoryBound(to: Float.self) }
    var u16: UnsafePointer<UInt16> { tensor.bytes.baseAddress!.assumingMemoryBound(to: UInt16.self) }

    /// out[T, rows] (row stride `ldo`, default rows) = x[T, cols] · Wᵀ.
    public func apply(_ x: UnsafePointer<Float>, tokens T: Int, into out: UnsafeMutablePointer<Float>, ldo: Int? = nil,
                      options: ComputeOptions) {
        let ldo = ldo ?? rows
        if T == 0 { return }
        switch tensor.dtype {
        case .i8:
            applyQ8(x, T: T, out: out, ldo: ldo, options: options)
        case .f32:
            if T == 1 {
                BLAS.sgemv(m: rows, n: cols, a: f32, lda: cols, x: x, y: out)
            } else {
                BLAS.sgemm(transB: true, m: T, n: rows, k: cols, a: x, lda: cols, b: f32, ldb: cols, c: out, ldc: ldo)
            }
        default:
            if T < Matrix.panelThreshold {
                stream(x, T: T, out: out, ldo: ldo, options: options)
            } else if tensor.dtype == .bf16 {
                if options.usesBF16Dot {
                    bf16Dot(x, T: T, out: out, ldo: ldo, threads: options.threads)
                } else {
                    gemmBF16(x, T: T, out: out, ldo: ldo, threads: options.threads, kernels: options.kernels)
                }
            } else {
                panels(x, T: T, out: out, ldo: ldo, rows: 0..<rows)
            }
        }
    }

    /// Blocked bf16 GEMM (gemm_bf16.c), weight rows split across cores (`gemmShares`).
    /// A share the kernel refuses (it could not allocate its packing buffers) goes through
    /// the panels instead, so every output is written. `kernel` is replaceable for tests.
    func gemmBF16(_ x: UnsafePointer<Float>, T: Int, out: UnsafeMutablePointer<Float>, ldo: Int, threads: Int,
                  kernels: KernelFamily, kernel: GemmBF16Kernel = pk_gemm_bf16_isa) {
        let o = UnsafeMutableSendablePointer(out), xs = UnsafeSendablePointer(x)
        let w = UnsafeSendablePointer(u16), cols = cols, isa = kernels.rawValue
        for refused in Matrix.gemmShares(rows: rows, threads: threads, { r0, n in
            kernel(isa, o.pointer + r0, ldo, xs.pointer, w.pointer + r0 * cols, T, n, cols) == 0
        }) {
            panels(x, T: T, out: out, ldo: ldo, rows: refused)
        }
    }

    /// Rows of a prefill GEMM split across cores in shares of whole `tile`-row tiles (the
    /// widest kernels' tile, so a row's sums do not depend on the split), `sharesPerThread` per
    /// thread (with one thread, one share), taken by whichever thread is free. More shares let a
    /// core slowed by another process do less; they pay where each share packs the activations
    /// again (the exact GEMM: four per thread measured 10–40% slower) and not where the kernel
    /// reads everything in place (`bf16Dot`). `share(r0, n)` computes rows r0 ..< r0 + n and
    /// returns false when its kernel refused them; the refused ranges are returned for the
    /// caller's fallback.
    static func gemmShares(rows: Int, threads: Int, tile: Int = 32, sharesPerThread: Int = 1,
                           _ share: @Sendable (_ r0: Int, _ n: Int) -> Bool) -> [Range<Int>] {
        let tiles = (rows + tile - 1) / tile, workers = max(1, min(threads, tiles))
        let parts = max(1, min(tiles, workers == 1 ? 1 : sharesPerThread * workers))
        let size = (tiles + parts - 1) / parts * tile
        let refused = UnsafeMutablePointer<Bool>.allocate(capacity: parts)
        defer { refused.deallocate() }
        refused.initialize(repeating: false, count: parts)
        let refusals = UnsafeMutableSendablePointer(refused)
        WorkerPool.shared(threads: workers).run(parts: parts) { part in
            let r0 = part * size, n = min(size, rows - r0)
            guard n > 0 else { return }
            refusals.pointer[part] = !share(r0, n)
        }
        return (0..<parts).filter { refused[$0] }.map { $0 * size..<min(($0 + 1) * size, rows) }
    }

    /// Convert a panel of rows to f32, multiply it with sgemm, move on (on the calling thread:
    /// the callers split rows across cores themselves or run on few of them).
    private func panels(_ x: UnsafePointer<Float>, T: Int, out: UnsafeMutablePointer<Float>, ldo: Int, rows: Range<Int>) {
        forEachPanel(rows: rows, scratch: FloatBuffer(count: panelScratchCount), threads: 1) { r0, n, panel in
            BLAS.sgemm(transB: true, m: T, n: n, k: cols, a: x, lda: cols, b: panel, ldb: cols, c: out + r0, ldc: ldo)
        }
    }

    typealias GemmBF16Kernel = @convention(c) (Int32, UnsafeMutablePointer<Float>?, Int, UnsafePointer<Float>?,
                                                UnsafePointer<UInt16>?, Int, Int, Int) -> Int32

    typealias BF16DotKernel = @convention(c) (UnsafeMutablePointer<Float>?, Int, UnsafePointer<UInt16>?, Int,
                                               UnsafePointer<UInt16>?, Int, Int, Int) -> Int32

    /// Row stride (in bf16s) of the rounded activations: whole cache lines, an odd number of
    /// them. A tile reads 6 token rows at the same K offset; at a stride of a multiple of 4 KiB
    /// (K = 2048: every hidden-size product and the logits) all 6 fall in the same L1 set with
    /// the 4 weight rows, and evictions cost 10–25% of the kernel's rate (T = 512, alternated
    /// runs on one core: 126–183 GFLOP/s at stride 2048 against 186–205 at 2080, where the
    /// vdpbf16ps loop alone reaches ~205; the logits product on two: 106–194 against 179–195
    /// per core).
    static func bf16DotStride(cols: Int) -> Int {
        let lines = (cols + 31) / 32
        return (lines | 1) * 32
    }

    /// Activations rounded to bf16 once, weight rows split over the cores in 64-row panels,
    /// four shares per thread (`gemmShares`; the kernel reads its rows in place, so a share
    /// costs no packing). A share the kernel refuses (pk_gemm_bf16dot returns -1: the CPU lacks
    /// AVX512-BF16) goes through the exact panels instead, so every output is written.
    /// `kernel` is replaceable for tests.
    func bf16Dot(_ x: UnsafePointer<Float>, T: Int, out: UnsafeMutablePointer<Float>, ldo: Int, threads: Int,
                 kernel: BF16DotKernel = pk_gemm_bf16dot) {
        let ldx = Matrix.bf16DotStride(cols: cols)
        // On cache lines, as the stride assumes (malloc's 16-byte alignment splits every load).
        let raw = UnsafeMutableRawPointer.allocate(byteCount: T * ldx * 2, alignment: 64)
        defer { raw.deallocate() }
        let xb = raw.bindMemory(to: UInt16.self, capacity: T * ldx)
        let o = UnsafeMutableSendablePointer(out), a = UnsafeSendablePointer(UnsafePointer(xb))
        let w = UnsafeSendablePointer(u16), cols = cols
        let xs = UnsafeSendablePointer(x), xbs = UnsafeMutableSendablePointer(xb)
        WorkerPool.forEachRowBlock(rows: T, width: cols, threads: threads) { block in
            for t in block { pk_f32_to_bf16(xbs.pointer + t * ldx, xs.pointer + t * cols, cols) }
        }
        for refused in Matrix.gemmShares(rows: rows, threads: threads, tile: 64, sharesPerThread: 4, { r0, n in
            kernel(o.pointer + r0, ldo, a.pointer, ldx, w.pointer + r0 * cols, T, n, cols) == 0
        }) {
            panels(x, T: T, out: out, ldo: ldo, rows: refused)
        }
    }

    /// Row `r` as f32 (embedding lookup).
    public func copyRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        switch tensor.dtype {
        case .i8: dequantiseQ8(rows: r..<r + 1, into: out)
        case .f32: out.update(from: f32 + r * cols, count: cols)
        case .bf16: pk_bf16_to_f32(out, u16 + r * cols, cols)
        default: pk_f16_to_f32(out, u16 + r * cols, cols)
        }
    }

    /// Splitting small matrices across threads costs more than it saves.
    static func workers(for elements: Int, threads: Int) -> Int {
        elements < 1 << 16 ? 1 : max(1, min(threads, elements >> 16))
    }
}

/// Pointers handed to worker threads; each thread writes a disjoint range.
struct UnsafeMutableSendablePointer<T>: @unchecked Sendable { let pointer: UnsafeMutablePointer<T>; init(_ p: UnsafeMutablePointer<T>) { pointer = p } }
struct UnsafeSendablePointer<T>: @unchecked Sendable { let pointer: UnsafePointer<T>; init(_ p: UnsafePointer<T>) { pointer = p } }
