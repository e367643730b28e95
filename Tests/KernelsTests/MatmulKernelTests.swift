import Kernels
import Model
import PolyKernels
import TestSupport
import XCTest

/// matmul.c, matmul_simd.c (each kernel family), gemm_bf16dot.c and the f32 (BLAS) product against `naiveProduct` of exactly the
/// values each kernel sees (bf16 and f16 weights widened here, not by our C code).
///
/// Any summation order of C products is within γ_C · Σ|x·w|; naiveProduct rounds its Double
/// sums (and the Σ|x·w| it is also used for) to f32 once, so the bound is
/// γ_(C+1) · Σ|x·w| + 2u · |x·w|.
final class MatmulKernelTests: XCTestCase {
    let widths = [1, 3, 7, 16, 17, 33, 129], rowCounts = [1, 3, 4, 5, 7, 13], tokenCounts = [1, 2, 3, 4, 5, 7, 9]

    func checkProduct(_ x: [Float], _ w: [Float], tokens T: Int, rows: Int, cols C: Int, ldo: Int, _ message: String,
                      file: StaticString = #filePath, line: UInt = #line,
                      _ kernel: (UnsafeMutablePointer<Float>) -> Void) {
        // Room past the rows and columns of out: what the kernel must not write stays NaN.
        let out = FloatBuffer(count: (T + 4) * ldo)
        out.fill(.nan)
        kernel(out.pointer)
        let got = (0..<T * rows).map { out[$0 / rows * ldo + $0 % rows] }
        let expected = naiveProduct(x, w, tokens: T, rows: rows, cols: C)
        let magnitude = naiveProduct(x.map(abs), w.map(abs), tokens: T, rows: rows, cols: C)
        let bounds = zip(magnitude, expected).map { gamma(C + 1) * Double($0) + 2 * unitRoundoff * abs(Double($1)) }
        assertWithin(got, expected.map(Double.init), bounds: bounds, message, file: file, line: line)
        let untouched = (0..<(T + 4) * ldo).filter { $0 / ldo >= T || $0 % ldo >= rows }.allSatisfy { out[$0].isNaN }
        XCTAssertTrue(untouched, "\(message): wrote outside out[T, rows]", file: file, line: line)
    }

    /// Random bf16 values: random f32s cut to their top half.
    func bf16(_ count: Int, _ rng: inout SplitMix64) -> [UInt16] {
        rng.floats(count, in: -1...1).map { UInt16(truncatingIfNeeded: $0.bitPattern >> 16) }
    }

    func widened(_ bf16: [UInt16]) -> [Float] { bf16.map { Float(bitPattern: UInt32($0) << 16) } }

    /// Every family the CPU runs (those it lacks are lowered, so this holds on any CPU).
    let families = KernelFamily.allCases.filter { $0.rawValue <= KernelFamily.best.rawValue }

    /// The portable kernel's 4×4 tiles, token and row tails, and C not a multiple of 16; the
    /// intrinsics kernels (1–3 tokens) with C around their 16/32-column chunks and the
    /// 128-column unrolled loop, its tail of whole chunks and a masked last chunk.
    func testBF16MatmulMatchesNaiveProduct() {
        var rng = SplitMix64(seed: 51)
        for family in families {
            for C in widths + [31, 32, 63, 64, 127, 128, 161, 300] {
                for rows in rowCounts {
                    for T in tokenCounts {
                        let w = bf16(rows * C, &rng), x = rng.floats(T * C, in: -1...1)
                        checkProduct(x, widened(w), tokens: T, rows: rows, cols: C, ldo: rows + 2,
                                     "bf16 \(family) C=\(C) rows=\(rows) T=\(T)") {
                            pk_matmul_bf16_isa(family.rawValue, $0, rows + 2, x, w, T, rows, C)
                        }
                    }
                }
            }
        }
    }

    /// Rows longer than LONG_ROW (4096) columns with one token go 8 (AVX2: 4) rows at a time,
    /// 2 and 3 tokens past 4096 floats of activations 8 and 6 rows at a time (AVX-512), the rest
    /// one by one: row counts around the groups, widths with a masked last chunk.
    func testLongRowsMatchNaiveProduct() {
        var rng = SplitMix64(seed: 57)
        for family in families {
            for C in [1400, 2049, 4191, 8256] {
                for rows in [1, 5, 7, 9, 17] {
                    for T in [1, 2, 3] {
                        let w = bf16(rows * C, &rng), x = rng.floats(T * C, in: -1...1)
                        checkProduct(x, widened(w), tokens: T, rows: rows, cols: C, ldo: rows + 2,
                                     "bf16 \(family) C=\(C) rows=\(rows) T=\(T)") {
                            pk_matmul_bf16_isa(family.rawValue, $0, rows + 2, x, w, T, rows, C)
                        }
                        let h = rng.floats(rows * C, in: -1...1).map { Float16($0).bitPattern }
                        checkProduct(x, h.map { Float(Float16(bitPattern: $0)) }, tokens: T, rows: rows, cols: C, ldo: rows + 2,
                                     "f16 \(family) C=\(C) rows=\(rows) T=\(T)") {
                            pk_matmul_f16_isa(family.rawValue, $0, rows + 2, x, h, T, rows, C)
                        }
                    }
                }
            }
        }
    }

    /// Inputs at odd addresses (a slice of rows starting mid-line, x one float off its
    /// alignment): the kernels' loads must not assume alignment.
    func testMatmulsAcceptUnalignedInputs() {
        var rng = SplitMix64(seed: 55)
        let (C, rows) = (161, 5)
        for family in families {
            for T in [1, 2, 3, 5] {
                let w = bf16(rows * C + 1, &rng), x = rng.floats(T * C + 1, in: -1...1)
                let f16 = rng.floats(rows * C + 1, in: -1...1).map { Float16($0).bitPattern }
                checkProduct(Array(x[1...]), widened(Array(w[1...])), tokens: T, rows: rows, cols: C, ldo: rows,
                             "bf16 \(family) unaligned T=\(T)") { out in
                    x.withUnsafeBufferPointer { xs in
                        w.withUnsafeBufferPointer { pk_matmul_bf16_isa(family.rawValue, out, rows, xs.baseAddress! + 1, $0.baseAddress! + 1, T, rows, C) }
                    }
                }
                checkProduct(Array(x[1...]), f16[1...].map { Float(Float16(bitPattern: $0)) }, tokens: T, rows: rows, cols: C, ldo: rows,
                             "f16 \(family) unaligned T=\(T)") { out in
                    x.withUnsafeBufferPointer { xs in
                        f16.withUnsafeBufferPointer { pk_matmul_f16_isa(family.rawValue, out, rows, xs.baseAddress! + 1, $0.baseAddress! + 1, T, rows, C) }
                    }
                }
            }
        }
    }

    /// The intrinsics kernels against the portable one on a decode-sized matrix, through the
    /// run-time choice (pk_matmul_bf16) too: one reference, every family.
    func testFamiliesAgreeOnDecodeShapes() {
        var rng = SplitMix64(seed: 56)
        let (C, rows) = (2048, 64)
        let w = bf16(rows * C, &rng), wf = widened(w)
        for T in [1, 2, 3] {
            let x = rng.floats(T * C, in: -1...1)
            for family in families {
                checkProduct(x, wf, tokens: T, rows: rows, cols: C, ldo: rows, "bf16 \(family) 64×2048 T=\(T)") {
                    pk_matmul_bf16_isa(family.rawValue, $0, rows, x, w, T, rows, C)
                }
            }
            checkProduct(x, wf, tokens: T, rows: rows, cols: C, ldo: rows, "bf16 best 64×2048 T=\(T)") {
                pk_matmul_bf16($0, rows, x, w, T, rows, C)
            }
        }
    }

    /// The f16 kernels, including rows longer than the portable one's 512-column block.
    func testF16MatmulMatchesNaiveProduct() {
        var rng = SplitMix64(seed: 52)
        for family in families {
            for C in widths + [31, 32, 128, 161, 515] {
                for rows in [1, 3, 5] {
                    for T in [1, 2, 3, 5] {
                        let w = rng.floats(rows * C, in: -1...1).map { Float16($0).bitPattern }
                        let x = rng.floats(T * C, in: -1...1)
                        checkProduct(x, w.map { Float(Float16(bitPattern: $0)) }, tokens: T, rows: rows, cols: C, ldo: rows + 2,
                                     "f16 \(family) C=\(C) rows=\(rows) T=\(T)") {
                            pk_matmul_f16_isa(family.rawValue, $0, rows + 2, x, w, T, rows, C)
                        }
                    }
                }
            }
        }
    }

    /// f32 weights go to OpenBLAS (sgemv for one token, sgemm otherwise).
    func testF32MatrixMatchesNaiveProduct() {
        var rng = SplitMix64(seed: 53)
        for C in widths {
            for rows in [1, 3, 7] {
                for T in [1, 2, 5] {
                    let w = rng.floats(rows * C, in: -1...1), x = rng.floats(T * C, in: -1...1)
                    let matrix = Matrix(Tensor(w, shape: [rows, C]))
                    checkProduct(x, w, tokens: T, rows: rows, cols: C, ldo: rows + 2, "f32 C=\(C) rows=\(rows) T=\(T)") { out in
                        x.withUnsafeBufferPointer { matrix.apply($0.baseAddress!, tokens: T, into: out, ldo: rows + 2, options: ComputeOptions()) }
                    }
                }
            }
        }
    }

    /// vdpbf16ps: products of two bf16s are exact in f32, so the bound is the sum's. Rows not a
    /// multiple of the 4-row tile or the 64-row block, T not a multiple of the 6-token tile, K
    /// odd, under one 32-term vector, with a masked tail, and over one 2048-term block (4100:
    /// two blocks that accumulate into out); a row stride wider than rows; activation rows
    /// packed or at a wider stride (the padding holds NaNs, which no sum may read).
    func testBF16DotGEMMMatchesNaiveProductOfBF16Inputs() throws {
        try XCTSkipUnless(pk_has_bf16dot() != 0, "this CPU has no AVX512-BF16 instructions")
        var rng = SplitMix64(seed: 54)
        for K in [1, 2, 7, 34, 64, 130, 4100] {
            for rows in [1, 3, 17, 64, 65, 130] {
                for T in [1, 3, 5, 6, 7, 13] where K < 4100 || (rows >= 65 && T >= 7) {
                    let w = bf16(rows * K, &rng), xb = bf16(T * K, &rng)
                    let ldo = rows + 3, ldx = T % 2 == 0 ? K : K + 33
                    var strided = [UInt16](repeating: 0x7FC0, count: T * ldx)
                    for t in 0..<T { strided[t * ldx..<t * ldx + K] = xb[t * K..<(t + 1) * K] }
                    checkProduct(widened(xb), widened(w), tokens: T, rows: rows, cols: K, ldo: ldo,
                                 "bf16dot K=\(K) rows=\(rows) T=\(T) ldx=\(ldx)") {
                        XCTAssertEqual(pk_gemm_bf16dot($0, ldo, strided, ldx, w, T, rows, K), 0)
                    }
                }
            }
        }
    }
}
