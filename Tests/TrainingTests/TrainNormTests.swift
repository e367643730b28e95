import PolyKernels
import XCTest

/// RMSNorm and PolyNorm training kernels: forward against a naive loop, backward against
/// finite differences of that loop.
final class TrainNormTests: XCTestCase {
    let rows = 3, n = 8, eps: Float = 1e-5

    func naiveRMSNorm(_ x: [Double], _ w: [Double], rows: Int, n: Int) -> [Double] {
        var out = [Double](repeating: 0, count: x.count)
        for r in 0..<rows {
            let row = x[r * n..<(r + 1) * n]
            let inv = 1 / (row.reduce(0) { $0 + $1 * $1 } / Double(n) + Double(eps)).squareRoot()
            for i in 0..<n { out[r * n + i] = w[i] * x[r * n + i] * inv }
        }
        return out
    }

    func testRMSNormForwardKeepsRstdAndBackwardMatchesFiniteDifferences() {
        let x = randomValues(rows * n, seed: 1, scale: 2), w = randomValues(n, seed: 2).map { 1 + 0.3 * $0 }
        let g = randomValues(rows * n, seed: 3)
        var out = [Float](repeating: 0, count: rows * n), rstd = [Float](repeating: 0, count: rows)
        pk_rmsnorm_forward(&out, &rstd, floats(x), floats(w), rows, n, eps)
        assertGradient(out, naiveRMSNorm(x, w, rows: rows, n: n), tolerance: 1e-5, "forward")
        for r in 0..<rows {
            let ms = x[r * n..<(r + 1) * n].reduce(0) { $0 + $1 * $1 } / Double(n)
            XCTAssertEqual(Double(rstd[r]), 1 / (ms + Double(eps)).squareRoot(), accuracy: 1e-5)
        }
        // dx accumulates: start from ones and subtract them.
        var dx = [Float](repeating: 1, count: rows * n), dw = [Float](repeating: 0, count: n)
        pk_rmsnorm_backward(&dx, &dw, floats(g), floats(x), floats(w), rstd, rows, n)
        let fdx = numericalGradient({ dot(self.naiveRMSNorm($0, w, rows: self.rows, n: self.n), g) }, at: x)
        let fdw = numericalGradient({ dot(self.naiveRMSNorm(x, $0, rows: self.rows, n: self.n), g) }, at: w)
        assertGradient(dx.map { $0 - 1 }, fdx, "dx")
        assertGradient(dw, fdw, "dweight")
    }

    func naivePolyNorm(_ x: [Double], _ c: [Double], rows: Int, n: Int) -> [Double] {
        var out = [Double](repeating: 0, count: x.count)
        for r in 0..<rows {
            let row = Array(x[r * n..<(r + 1) * n])
            func norm(_ u: [Double]) -> [Double] {
                let inv = 1 / (u.reduce(0) { $0 + $1 * $1 } / Double(n) + 1e-6).squareRoot()
                return u.map { $0 * inv }
            }
            let n3 = norm(row.map { $0 * $0 * $0 }), n2 = norm(row.map { $0 * $0 }), n1 = norm(row)
            for i in 0..<n { out[r * n + i] = c[0] * n3[i] + c[1] * n2[i] + c[2] * n1[i] + c[3] }
        }
        return out
    }

    func testPolyNormForwardKeepsInverseNormsAndBackwardMatchesFiniteDifferences() {
        let x = randomValues(rows * n, seed: 4, scale: 1.5), c = [0.6, -0.4, 0.9, 0.1]
        let g = randomValues(rows * n, seed: 5)
        var out = [Float](repeating: 0, count: rows * n), inv = [Float](repeating: 0, count: rows * 3)
        pk_polynorm_forward(&out, &inv, floats(x), rows, n, 0.6, -0.4, 0.9, 0.1, 1e-6)
        assertGradient(out, naivePolyNorm(x, c, rows: rows, n: n), tolerance: 1e-5, "forward")
        for r in 0..<rows {
            for k in 1...3 {
                let ms = x[r * n..<(r + 1) * n].reduce(0) { $0 + pow($1, Double(2 * k)) } / Double(n)
                XCTAssertEqual(Double(inv[r * 3 + k - 1]), 1 / (ms + 1e-6).squareRoot(), accuracy: 1e-4 / (ms + 1e-6).squareRoot())
            }
        }
        var dx = [Float](repeating: 0, count: rows * n), dcoef: [Float] = [0, 0, 0, 0]
        pk_polynorm_backward(&dx, &dcoef, floats(g), floats(x), inv, rows, n, 0.6, -0.4, 0.9)
        assertGradient(dx, numericalGradient({ dot(self.naivePolyNorm($0, c, rows: self.rows, n: self.n), g) }, at: x), "dx")
        assertGradient(dcoef, numericalGradient({ dot(self.naivePolyNorm(x, $0, rows: self.rows, n: self.n), g) }, at: c), "dcoef")
    }
}
