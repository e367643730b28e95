@testable import Kernels
import Model
import TestSupport
import XCTest

/// The panel products of training: y = x · Wᵀ and dx = dy · W (the input gradient through a
/// frozen weight) against naive loops in double precision over the weights as stored,
/// widened here by their bit patterns; one and two widening threads.
final class MatrixPanelsTests: XCTestCase {
    /// bf16 is the high half of an f32; f16 through Float16's own conversion.
    func widened(_ t: Tensor) -> [Float] {
        let raw = t.bytes.bindMemory(to: UInt16.self)
        switch t.dtype {
        case .bf16: return raw.map { Float(bitPattern: UInt32($0) << 16) }
        case .f16: return raw.map { Float(Float16(bitPattern: $0)) }
        default: return t.bytes.bindMemory(to: Float.self).map { $0 }
        }
    }

    func testPanelProductsMatchNaiveLoops() {
        var rng = SplitMix64(seed: 7)
        // 1100 rows: two full 512-row panels and a tail; 37 rows: one short panel.
        for (rows, cols) in [(37, 53), (1100, 96)] {
            let w = (0..<rows * cols).map { _ in Float.random(in: -1...1, using: &rng) }
            for dtype in [DType.f32, .bf16, .f16] {
                let tensor = Tensor(w, shape: [rows, cols]).converted(to: dtype)
                let stored = widened(tensor), matrix = Matrix(tensor)
                for tokens in [1, 5, 64] {
                    let dy = (0..<tokens * rows).map { _ in Float.random(in: -1...1, using: &rng) }
                    let start = (0..<tokens * cols).map { _ in Float.random(in: -1...1, using: &rng) }
                    var expected = [Float](repeating: 0, count: tokens * cols), accumulated = expected
                    for t in 0..<tokens {
                        for c in 0..<cols {
                            var s = 0.0
                            for r in 0..<rows { s += Double(dy[t * rows + r]) * Double(stored[r * cols + c]) }
                            expected[t * cols + c] = Float(s)
                            accumulated[t * cols + c] = Float(s + Double(start[t * cols + c]))
                        }
                    }
                    let scratch = FloatBuffer(count: matrix.panelScratchCount), threads = tokens % 2 + 1
                    for accumulate in [false, true] {
                        let out = FloatBuffer(start)
                        dy.withUnsafeBufferPointer {
                            matrix.applyTransposed($0.baseAddress!, tokens: tokens, into: out.pointer, accumulate: accumulate,
                                                   scratch: scratch, threads: threads)
                        }
                        let want = accumulate ? accumulated : expected
                        // f32 sums of `rows` products: 1e-4 relative to the largest output.
                        assertClose(out.array, want, tolerance: 1e-4 * max(1, want.map { abs($0) }.max()!),
                                    "\(dtype) \(rows)×\(cols) T=\(tokens) accumulate \(accumulate)")
                    }
                    // y = x · Wᵀ: x [T, cols] from dy's values.
                    let x = Array(dy.prefix(tokens * cols)) + [Float](repeating: 0.5, count: max(0, tokens * cols - dy.count))
                    let forward = naiveProduct(x, stored, tokens: tokens, rows: rows, cols: cols)
                    let y = FloatBuffer(count: tokens * rows)
                    x.withUnsafeBufferPointer { matrix.applyWidened($0.baseAddress!, tokens: tokens, into: y.pointer, scratch: scratch, threads: threads) }
                    assertClose(y.array, forward, tolerance: 1e-4 * max(1, forward.map { abs($0) }.max()!), "\(dtype) \(rows)×\(cols) T=\(tokens) forward")
                }
            }
        }
    }
}
