@testable import Kernels
import Model
import PolyKernels
import TestSupport
import XCTest

/// matmul_q8.c and Matrix+Q8.swift: quantisation against the block rule done here, each
/// kernel family against `naiveProduct` of the values it multiplies (weights and
/// activations quantised and dequantised here in Swift, not by our C code).
final class MatmulQ8KernelTests: XCTestCase {
    let families = KernelFamily.allCases.filter { $0.rawValue <= KernelFamily.best.rawValue }

    /// Swift's block rule: d = amax / 127 (f16-rounded for weights), q = round(v / d).
    func quantised(_ v: [Float], rows: Int, cols C: Int, f16Scales: Bool) -> (q: [Int8], d: [Float]) {
        let nb = (C + 31) / 32
        var q = [Int8](repeating: 0, count: rows * C), d = [Float](repeating: 0, count: rows * nb)
        for r in 0..<rows {
            for b in 0..<nb {
                let range = (r * C + b * 32)..<(r * C + min(C, b * 32 + 32))
                let amax = v[range].map(abs).max()!
                let scale = f16Scales ? Float(Float16(amax / 127)) : amax / 127
                d[r * nb + b] = scale
                let inverse: Float = scale > 0 ? 1 / scale : 0
                for i in range { q[i] = Int8(max(-127, min(127, (v[i] * inverse).rounded(.toNearestOrEven)))) }
            }
        }
        return (q, d)
    }

    func dequantised(_ q: [Int8], _ d: [Float], rows: Int, cols C: Int) -> [Float] {
        let nb = (C + 31) / 32
        return (0..<rows * C).map { i in d[i / C * nb + i % C / 32] * Float(q[i]) }
    }

    func testQuantizeMatchesBlockRuleAndDequantizeInverts() {
        var rng = SplitMix64(seed: 81)
        for C in [1, 5, 31, 32, 33, 48, 100, 257] {
            let rows = 3
            var w = rng.floats(rows * C, in: -2...2)
            w[0] = 0 // a zero in a block; a zero block below
            if C >= 64 { for i in 32..<64 { w[i] = 0 } }
            let q = Matrix(Tensor(w, shape: [rows, C])).quantisedQ8(threads: 2)
            let expected = quantised(w, rows: rows, cols: C, f16Scales: true)
            XCTAssertEqual(q.tensor.ints().map { Int8($0) }, expected.q, "values C=\(C)")
            XCTAssertEqual(q.scales!.floats(), expected.d, "scales C=\(C)")
            XCTAssertEqual(q.scales!.shape, [rows, (C + 31) / 32])
            let out = FloatBuffer(count: rows * C)
            for r in 0..<rows { q.copyRow(r, into: out.pointer + r * C) }
            XCTAssertEqual(out.array, dequantised(expected.q, expected.d, rows: rows, cols: C), "dequantised C=\(C)")
            // Within half a step of the original.
            for i in 0..<rows * C { XCTAssertLessThanOrEqual(abs(out[i] - w[i]), expected.d[i / C * ((C + 31) / 32) + i % C / 32] * 0.5001 + 1e-6) }
        }
    }

    /// Each block's Σ of its quantised values, summed here.
    func blockSums(_ q: [Int8], rows: Int, cols C: Int) -> [Int16] {
        let nb = (C + 31) / 32
        return (0..<rows * nb).map { i in
            let r = i / nb, b = i % nb
            return Int16(q[(r * C + b * 32)..<(r * C + min(C, b * 32 + 32))].reduce(0) { $0 + Int($1) })
        }
    }

    /// One kernel family's out[T, rows] (unaligned activations, out rows with a stride)
    /// against `naiveProduct` of the values quantised and dequantised here; with `sums`, the
    /// block sums computed here are passed (VNNI's token-lane kernel from 4 tokens on whole blocks).
    func checkKernel(_ family: KernelFamily, w: [Float], x: [Float], rows: Int, cols C: Int, tokens T: Int,
                     sums: Bool = false, file: StaticString = #filePath, line: UInt = #line) {
        let m = Matrix(Tensor(w, shape: [rows, C])).quantisedQ8()
        let qw = quantised(w, rows: rows, cols: C, f16Scales: true)
        let qx = quantised(x, rows: T, cols: C, f16Scales: false)
        let wd = dequantised(qw.q, qw.d, rows: rows, cols: C), xd = dequantised(qx.q, qx.d, rows: T, cols: C)
        let expected = naiveProduct(xd, wd, tokens: T, rows: rows, cols: C)
        let magnitude = naiveProduct(xd.map(abs), wd.map(abs), tokens: T, rows: rows, cols: C)
        let ldo = rows + 2
        let out = FloatBuffer(count: T * ldo)
        out.fill(.nan)
        let shifted = [0] + x // activations one float off the allocation's alignment
        let sumValues = blockSums(qw.q, rows: rows, cols: C)
        let rc = shifted.withUnsafeBufferPointer { xs in
            sumValues.withUnsafeBufferPointer { sp in
                m.tensor.bytes.withMemoryRebound(to: Int8.self) { q in
                    m.scales!.bytes.withMemoryRebound(to: UInt16.self) { s in
                        pk_matmul_q8_isa(family.rawValue, out.pointer, ldo, xs.baseAddress! + 1, q.baseAddress!, s.baseAddress!,
                                         sums ? sp.baseAddress! : nil, T, rows, C)
                    }
                }
            }
        }
        XCTAssertEqual(rc, 0, file: file, line: line)
        let got = (0..<T * rows).map { out[$0 / rows * ldo + $0 % rows] }
        let bounds = magnitude.map { gamma(C + 3) * Double($0) + 1e-30 }
        assertWithin(got, expected.map(Double.init), bounds: bounds, "q8 \(family) C=\(C) rows=\(rows) T=\(T) sums=\(sums)",
                     file: file, line: line)
        XCTAssertTrue((0..<T * ldo).filter { $0 % ldo >= rows }.allSatisfy { out[$0].isNaN }, "wrote outside out", file: file, line: line)
    }

    /// Every family, odd widths around the 32-column blocks and the 2-block unrolled loop
    /// (VNNI's 64-column vectors: 63…65, 127…129), even and odd rows (VNNI's row pairs and a
    /// last row alone), every token count of the tiles (1…8 in one tile, 9 a full tile and
    /// one more; AVX2's tiles of 4 and their tails; 17 two full tiles and one more).
    func testQ8KernelsMatchNaiveProductOfQuantisedValues() {
        var rng = SplitMix64(seed: 82)
        for family in families {
            for C in [1, 7, 31, 32, 33, 48, 63, 64, 65, 100, 127, 128, 129, 176, 257] {
                for rows in [1, 2, 3, 7] {
                    for T in Array(1...9) + [17] {
                        for sums in [false, true] {
                            checkKernel(family, w: rng.floats(rows * C, in: -1...1), x: rng.floats(T * C, in: -3...3),
                                        rows: rows, cols: C, tokens: T, sums: sums)
                        }
                    }
                }
            }
        }
    }

    /// Values of ±1 quantise to ±127 (weights and activations): the largest integer sums,
    /// where VNNI's +128 offset and AVX2's 16-bit pair sums are closest to their limits.
    func testQ8KernelsAtExtremeQuantisedValues() {
        var rng = SplitMix64(seed: 85)
        for family in families {
            for (C, rows, T) in [(32, 2, 8), (257, 3, 9), (1030, 5, 4), (1024, 5, 8)] {
                let signs = { (n: Int) in (0..<n).map { _ in rng.next() % 2 == 0 ? Float(1) : -1 } }
                for sums in [false, true] {
                    checkKernel(family, w: signs(rows * C), x: signs(T * C), rows: rows, cols: C, tokens: T, sums: sums)
                    checkKernel(family, w: [Float](repeating: 1, count: rows * C), x: [Float](repeating: -1, count: T * C),
                                rows: rows, cols: C, tokens: T, sums: sums)
                }
            }
        }
    }

    /// Rows wider than the token-lane kernel's 64-block chunks of scales (2080 and 4128 columns:
    /// 65 and 129 blocks), 4-row groups and a last row alone, tokens in 1, 2 and 3 lane groups.
    func testQ8TokenLanesOnWideRows() {
        var rng = SplitMix64(seed: 86)
        for family in families {
            for (C, rows, T) in [(2080, 9, 4), (4128, 5, 12), (2048, 6, 17)] {
                checkKernel(family, w: rng.floats(rows * C, in: -1...1), x: rng.floats(T * C, in: -3...3),
                            rows: rows, cols: C, tokens: T, sums: true)
            }
        }
    }

    /// A q8 matrix keeps its block sums where the token-lane kernel can read them: a CPU with
    /// AVX512-VNNI and whole blocks; none for a partial last block.
    func testQ8MatrixBlockSums() {
        var rng = SplitMix64(seed: 87)
        let vnni = pk_q8_isa(KernelFamily.avx512.rawValue) == KernelFamily.avx512.rawValue
        for C in [64, 96, 100] {
            let w = rng.floats(3 * C, in: -1...1)
            let m = Matrix(Tensor(w, shape: [3, C])).quantisedQ8()
            guard vnni, C % 32 == 0 else { XCTAssertNil(m.q8BlockSums, "C=\(C)"); continue }
            let expected = blockSums(quantised(w, rows: 3, cols: C, f16Scales: true).q, rows: 3, cols: C)
            let got = Array(UnsafeBufferPointer(start: m.q8BlockSums!.pointer.assumingMemoryBound(to: Int16.self), count: expected.count))
            XCTAssertEqual(got, expected, "C=\(C)")
        }
    }

    /// Through Matrix.apply: decode tokens (the integer kernels, rows split over threads) and
    /// prefill (dequantised panels + sgemm, activations exact) both stay within the
    /// quantisation error of the f32 product.
    func testQ8MatrixApplyIsCloseToF32Product() {
        var rng = SplitMix64(seed: 83)
        // More than one 512-row panel, rows split over threads; 176 columns end in a 16-column
        // block, 192 are whole blocks (VNNI's token lanes from 4 tokens on).
        for C in [176, 192] {
            let rows = 600
            let w = rng.floats(rows * C, in: -1...1)
            let f32 = Matrix(Tensor(w, shape: [rows, C])), q8 = f32.held(as: .q8)
            XCTAssertTrue(q8.isQ8)
            XCTAssertEqual(q8.byteCount, rows * C + rows * ((C + 31) / 32) * 2)
            for T in [1, 4, 8, Matrix.panelThreshold + 3] {
                let x = rng.floats(T * C, in: -1...1)
                let exact = FloatBuffer(count: T * rows), got = FloatBuffer(count: T * rows)
                x.withUnsafeBufferPointer {
                    f32.apply($0.baseAddress!, tokens: T, into: exact.pointer, options: ComputeOptions(threads: 2))
                    q8.apply($0.baseAddress!, tokens: T, into: got.pointer, options: ComputeOptions(threads: 2))
                }
                // Each product's error: Σ |x| · step/2 (weights) + Σ |w| · step/2 (activations); about 0.1 here.
                let d = maxAbsDiff(got.array, exact.array)
                XCTAssertLessThan(d, 0.15, "C=\(C) T=\(T)")
                XCTAssertGreaterThan(d, 1e-4, "C=\(C) T=\(T): quantisation should show")
            }
        }
    }

    /// --weights f32 / bf16 on a q8 matrix gives its dequantised values.
    func testQ8HeldAsFloatIsDequantised() {
        var rng = SplitMix64(seed: 84)
        let w = rng.floats(5 * 40, in: -1...1)
        let q8 = Matrix(Tensor(w, shape: [5, 40])).quantisedQ8()
        let qw = quantised(w, rows: 5, cols: 40, f16Scales: true)
        XCTAssertEqual(q8.held(as: .f32).tensor.floats(), dequantised(qw.q, qw.d, rows: 5, cols: 40))
        XCTAssertEqual(q8.held(as: .bf16).tensor.dtype, .bf16)
        XCTAssertTrue(q8.held(as: .auto).isQ8)
    }
}
