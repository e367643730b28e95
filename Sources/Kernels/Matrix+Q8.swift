import Dispatch
import PolyKernels

/// q8 weights: blocks of 32 int8 values along a row, one f16 scale per block (llama.cpp's
/// Q8_0 layout, values and scales in two arrays). Decode batches (below
/// `panelThreshold` tokens) quantise the activations per block too and take integer dot
/// products (VNNI, AVX2 or portable C, pk_matmul_q8_isa; VNNI with 4 or more tokens in vector
/// lanes, starting from `q8BlockSums`); prefill runs the blocked GEMM of
/// bf16 prefill with a packing that dequantises the weights (gemm_q8.c), so its activations
/// and math stay f32. Dequantised 512-row panels through sgemm (`q8Panels`) are left for
/// what the kernels refuse (no buffers).
extension Matrix {
    /// The scales' shape for values of `shape` [rows, cols]: [rows, ⌈cols/32⌉].
    public static func q8ScaleShape(_ shape: [Int]) -> [Int] {
        [shape[0], (shape[1] + Int(PK_Q8_BLOCK) - 1) / Int(PK_Q8_BLOCK)]
    }

    public var isQ8: Bool { tensor.dtype == .i8 }

    /// `q8BlockSums` for these values, or nil where no kernel reads them.
    static func blockSums(_ values: Tensor, rows: Int, cols: Int) -> ByteStorage? {
        let vnni = pk_q8_isa(KernelFamily.avx512.rawValue) == KernelFamily.avx512.rawValue
        guard vnni, cols % Int(PK_Q8_BLOCK) == 0, rows > 0 else { return nil }
        let sums = ByteStorage(count: rows * cols / Int(PK_Q8_BLOCK) * 2)
        pk_q8_block_sums(sums.pointer.assumingMemoryBound(to: Int16.self),
                         values.bytes.baseAddress!.assumingMemoryBound(to: Int8.self), rows, cols)
        return sums
    }

    private var q8Values: UnsafePointer<Int8> { tensor.bytes.baseAddress!.assumingMemoryBound(to: Int8.self) }
    private var q8Scales: UnsafePointer<UInt16> { scales!.bytes.baseAddress!.assumingMemoryBound(to: UInt16.self) }

    /// This matrix held as `format` (converted once; `.auto` keeps it as it is).
    public func held(as format: WeightFormat) -> Matrix {
        switch format {
        case .auto: return self
        case .q8: return isQ8 ? self : quantisedQ8()
        case .f32, .bf16:
            let target: DType = format == .f32 ? .f32 : .bf16
            if !isQ8 { return Matrix(tensor.converted(to: target)) }
            let values = FloatBuffer(count: rows * cols)
            dequantiseQ8(rows: 0..<rows, into: values.pointer)
            let f32 = Tensor(dtype: .f32, shape: [rows, cols],
                             copying: UnsafeRawBufferPointer(start: values.pointer, count: rows * cols * 4))
            return Matrix(f32.converted(to: target))
        }
    }

    /// Quantised in 256-row panels (each widened to f32, then quantised), panels split
    /// across cores, so a large matrix never has a whole f32 copy.
    public func quantisedQ8(threads: Int = ComputeOptions.cores) -> Matrix {
        let scaleShape = Matrix.q8ScaleShape([rows, cols]), nb = scaleShape[1]
        let values = ByteStorage(count: rows * cols), scaleBytes = ByteStorage(count: rows * nb * 2)
        let q = UnsafeMutableSendablePointer(values.pointer.assumingMemoryBound(to: Int8.self))
        let s = UnsafeMutableSendablePointer(scaleBytes.pointer.assumingMemoryBound(to: UInt16.self))
        let panel = 256, panels = (rows + panel - 1) / panel, source = self, cols = cols, rows = rows
        DispatchQueue.concurrentPerform(iterations: min(max(1, threads), max(1, panels))) { worker in
            let f = FloatBuffer(count: panel * cols)
            for p in stride(from: worker, to: panels, by: min(max(1, threads), max(1, panels))) {
                let r0 = p * panel, n = min(panel, rows - r0)
                source.floatRows(r0..<r0 + n, into: f.pointer)
                pk_quantize_q8(q.pointer + r0 * cols, s.pointer + r0 * nb, f.pointer, n, cols)
            }
        }
        return Matrix(q8: Tensor(dtype: .i8, shape: [rows, cols], bytes: UnsafeRawBufferPointer(start: values.pointer, count: rows * cols),
                                 storage: values),
                      scales: Tensor(dtype: .f16, shape: scaleShape,
                                     bytes: UnsafeRawBufferPointer(start: scaleBytes.pointer, count: rows * nb * 2), storage: scaleBytes))
    }

    /// Rows of a float (not q8) matrix as f32.
    private func floatRows(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let base = tensor.bytes.baseAddress!, n = range.count * cols, start = range.lowerBound * cols
        switch tensor.dtype {
        case .f32: out.update(from: base.assumingMemoryBound(to: Float.self) + start, count: n)
        case .bf16: pk_bf16_to_f32(out, base.assumingMemoryBound(to: UInt16.self) + start, n)
        default: pk_f16_to_f32(out, base.assumingMemoryBound(to: UInt16.self) + start, n)
        }
    }

    /// Rows of a q8 matrix as f32 (scale · value).
    func dequantiseQ8(rows range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let nb = scales!.shape[1]
        pk_dequantize_q8(out, q8Values + range.lowerBound * cols, q8Scales + range.lowerBound * nb, range.count, cols)
    }

    func applyQ8(_ x: UnsafePointer<Float>, T: Int, out: UnsafeMutablePointer<Float>, ldo: Int, options: ComputeOptions) {
        if T < Matrix.panelThreshold {
            stream(x, T: T, out: out, ldo: ldo, options: options)
        } else {
            gemmQ8(x, T: T, out: out, ldo: ldo, threads: options.threads, kernels: options.kernels)
        }
    }

    typealias GemmQ8Kernel = @convention(c) (Int32, UnsafeMutablePointer<Float>?, Int, UnsafePointer<Float>?,
                                              UnsafePointer<Int8>?, UnsafePointer<UInt16>?, Int, Int, Int) -> Int32

    /// Blocked GEMM on the dequantised weights (gemm_q8.c), rows split across cores as bf16's
    /// (`gemmShares`); a share the kernel refuses goes through `q8Panels`, so every output is
    /// written. `kernel` is replaceable for tests.
    func gemmQ8(_ x: UnsafePointer<Float>, T: Int, out: UnsafeMutablePointer<Float>, ldo: Int, threads: Int,
                kernels: KernelFamily, kernel: GemmQ8Kernel = pk_gemm_q8_isa) {
        let o = UnsafeMutableSendablePointer(out), xs = UnsafeSendablePointer(x)
        let q = UnsafeSendablePointer(q8Values), s = UnsafeSendablePointer(q8Scales), nb = scales!.shape[1], cols = cols
        let isa = kernels.rawValue
        for refused in Matrix.gemmShares(rows: rows, threads: threads, { r0, n in
            kernel(isa, o.pointer + r0, ldo, xs.pointer, q.pointer + r0 * cols, s.pointer + r0 * nb, T, n, cols) == 0
        }) {
            q8Panels(x, T: T, out: out, ldo: ldo, rows: refused)
        }
    }

    func q8Panels(_ x: UnsafePointer<Float>, T: Int, out: UnsafeMutablePointer<Float>, ldo: Int, rows: Range<Int>) {
        let panel = FloatBuffer(count: Matrix.panelRows * cols)
        var r0 = rows.lowerBound
        while r0 < rows.upperBound {
            let n = min(Matrix.panelRows, rows.upperBound - r0)
            dequantiseQ8(rows: r0..<r0 + n, into: panel.pointer)
            BLAS.sgemm(transB: true, m: T, n: n, k: cols, a: x, lda: cols, b: panel.pointer, ldb: cols, c: out + r0, ldc: ldo)
            r0 += n
        }
    }
}
