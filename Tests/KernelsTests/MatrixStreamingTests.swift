import Dispatch
@testable import Kernels
import Model
import PolyKernels
import TestSupport
import XCTest

/// Matrix+Streaming.swift and the pk_*_claim kernels: rows taken in chunks by several
/// threads at once, against `naiveProduct` of the widened (bf16, f16) or quantised-here (q8)
/// values, and bit for bit against one thread taking every row (chunking must not change a
/// row's sums).
extension MatmulKernelTests {
    /// `threads` threads share one product through a counter, claims of at least `chunk` rows.
    func claimed(threads: Int, chunk: Int, rows: Int, into out: UnsafeMutablePointer<Float>,
                 _ kernel: @escaping @Sendable (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Int>) -> Void) {
        let next = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        defer { next.deallocate() }
        next.initialize(to: 0)
        let o = UnsafeMutableSendablePointer(out), n = UnsafeMutableSendablePointer(next)
        DispatchQueue.concurrentPerform(iterations: threads) { _ in kernel(o.pointer, n.pointer) }
        XCTAssertEqual(next.pointee, rows, "every row taken once")
    }

    /// Smallest claims of 1, 3, 4 and 8 rows (a last one short, rows in no 4-row multiple), 1–5
    /// tokens (the row kernels and the batched tiles), widths around the 32-column chunks and
    /// past LONG_ROW (rows grouped 8 or 4 at a time where the claim allows, one by one after).
    func testClaimedRowsMatchNaiveProductAndOneThread() {
        var rng = SplitMix64(seed: 91)
        for family in families {
            for (rows, C) in [(37, 161), (13, 33), (9, 7), (21, 4161)] {
                for T in [1, 2, 3, 4, 5] where T == 3 ? C > 1365 : true {
                    for chunk in [1, 3, 4, 8] {
                        let w = bf16(rows * C, &rng), x = rng.floats(T * C, in: -1...1)
                        let whole = FloatBuffer(count: T * (rows + 2))
                        whole.fill(.nan)
                        pk_matmul_bf16_isa(family.rawValue, whole.pointer, rows + 2, x, w, T, rows, C)
                        let isa = family.rawValue
                        checkProduct(x, widened(w), tokens: T, rows: rows, cols: C, ldo: rows + 2,
                                     "bf16 claim \(family) rows=\(rows) C=\(C) T=\(T) chunk=\(chunk)") { out in
                            claimed(threads: 3, chunk: chunk, rows: rows, into: out) { o, next in
                                pk_matmul_bf16_claim(isa, o, rows + 2, x, w, T, rows, C, chunk, next)
                            }
                            // Whole 4-row chunks (what Matrix claims): the portable kernel's 4-row tiles sum in
                            // another order than its single rows, so other chunks differ from one thread there.
                            if chunk % 4 == 0 {
                                XCTAssertTrue((0..<T * (rows + 2)).allSatisfy { out[$0].bitPattern == whole[$0].bitPattern },
                                              "bf16 claim \(family) rows=\(rows) T=\(T) chunk=\(chunk): differs from one thread")
                            }
                        }
                        let h = rng.floats(rows * C, in: -1...1).map { Float16($0).bitPattern }
                        checkProduct(x, h.map { Float(Float16(bitPattern: $0)) }, tokens: T, rows: rows, cols: C, ldo: rows,
                                     "f16 claim \(family) rows=\(rows) C=\(C) T=\(T) chunk=\(chunk)") { out in
                            claimed(threads: 2, chunk: chunk, rows: rows, into: out) { o, next in
                                pk_matmul_f16_claim(isa, o, rows, x, h, T, rows, C, chunk, next)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Matrix.apply of several products at once (attention's q, k, v) on bf16, f16 and q8
    /// weights with rows in no whole number of chunks: each output as its own apply gives
    /// it, bit for bit, and the bf16 one within the bound of the naive product.
    func testFusedProductsMatchSeparateApplies() {
        var rng = SplitMix64(seed: 92)
        let C = 600 // rows of 1200 bytes: claims of at least 52 rows for bf16, so 250 rows are 60 + 3 × 52 + 34
        for T in [1, 3, 6] {
            let x = rng.floats(T * C, in: -1...1)
            let bf = bf16(250 * C, &rng)
            let products: [Matrix] = [
                Matrix(bf.withUnsafeBytes { Tensor(dtype: .bf16, shape: [250, C], copying: $0) }),
                Matrix(Tensor(rng.floats(130 * C, in: -1...1), shape: [130, C])).held(as: .q8),
                Matrix(rng.floats(77 * C, in: -1...1).map { Float16($0).bitPattern }.withUnsafeBytes {
                    Tensor(dtype: .f16, shape: [77, C], copying: $0)
                }),
            ]
            XCTAssertEqual(products[0].chunkRows, 52)
            for threads in [1, 2, 3] {
                let options = ComputeOptions(threads: threads)
                let fused = products.map { FloatBuffer(count: T * $0.rows) }, separate = products.map { FloatBuffer(count: T * $0.rows) }
                x.withUnsafeBufferPointer { xs in
                    Matrix.apply(zip(products, fused).map { ($0, $1.pointer) }, to: xs.baseAddress!, tokens: T, options: options)
                    for (m, out) in zip(products, separate) { m.apply(xs.baseAddress!, tokens: T, into: out.pointer, options: options) }
                }
                for i in products.indices {
                    XCTAssertEqual(fused[i].array.map(\.bitPattern), separate[i].array.map(\.bitPattern),
                                   "product \(i) T=\(T) threads=\(threads)")
                }
                let expected = naiveProduct(x, widened(bf), tokens: T, rows: 250, cols: C)
                let magnitude = naiveProduct(x.map(abs), widened(bf).map(abs), tokens: T, rows: 250, cols: C)
                assertWithin(fused[0].array, expected.map(Double.init),
                             bounds: zip(magnitude, expected).map { gamma(C + 1) * Double($0) + 2 * unitRoundoff * abs(Double($1)) },
                             "bf16 fused T=\(T) threads=\(threads)")
            }
        }
    }
}
