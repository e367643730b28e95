import XCTest

/// Central differences of a scalar function in double precision.
func numericalGradient(_ f: ([Double]) -> Double, at x: [Double], h: Double = 1e-5) -> [Double] {
    var x = x
    return (0..<x.count).map { i in
        let keep = x[i]
        x[i] = keep + h; let up = f(x)
        x[i] = keep - h; let down = f(x)
        x[i] = keep
        return (up - down) / (2 * h)
    }
}

/// Deterministic values in [-scale, scale).
func randomValues(_ n: Int, seed: UInt64, scale: Double = 1) -> [Double] {
    var s = seed &* 6364136223846793005 &+ 1442695040888963407
    return (0..<n).map { _ in
        s = s &* 6364136223846793005 &+ 1442695040888963407
        return (Double(s >> 11) / Double(1 << 53) * 2 - 1) * scale
    }
}

/// Asserts max |a − b| ≤ tolerance · max(1, max |b|), naming the largest difference.
func assertGradient(_ a: [Float], _ b: [Double], tolerance: Double = 1e-3, _ what: String,
                    file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, what, file: file, line: line)
    let scale = max(1e-6, b.map { abs($0) }.max() ?? 0)
    var worst = 0.0
    for (x, y) in zip(a, b) { worst = max(worst, abs(Double(x) - y)) }
    XCTAssert(worst <= tolerance * scale, "\(what): max |Δ| \(worst) vs max |ref| \(scale)", file: file, line: line)
}

func floats(_ x: [Double]) -> [Float] { x.map(Float.init) }
func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
