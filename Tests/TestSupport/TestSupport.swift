import Checkpoint
import Foundation
import Kernels
import Model
import XCTest

/// Where the committed fixtures live: Tests/Fixtures in this repository.
public let fixturesDirectory: String = {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
}()

public let repositoryRoot: String = {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
}()

public func fixtureModel(_ name: String) -> String { fixturesDirectory + "/models/" + name }

/// A checkpoint folder laid out as another writer does (Tests/Fixtures/folders): its weights
/// are symlinks into Tests/Fixtures/models.
public func fixtureFolder(_ name: String) -> String { fixturesDirectory + "/folders/" + name }

/// The PyTorch reference outputs written by tools/reference for one fixture model.
public func reference(_ name: String) throws -> SafeTensorsFile {
    try SafeTensorsFile(path: fixturesDirectory + "/reference/\(name).safetensors")
}

/// Largest absolute difference; fails when the shapes differ.
public func maxAbsDiff(_ a: [Float], _ b: [Float], file: StaticString = #filePath, line: UInt = #line) -> Float {
    XCTAssertEqual(a.count, b.count, "length mismatch", file: file, line: line)
    var m: Float = 0
    for i in 0..<min(a.count, b.count) {
        let d = abs(a[i] - b[i])
        if d.isNaN { return .nan }
        m = max(m, d)
    }
    return m
}

/// Asserts every element is within `tolerance`, reporting the largest difference.
public func assertClose(_ a: [Float], _ b: [Float], tolerance: Float, _ message: String = "",
                        file: StaticString = #filePath, line: UInt = #line) {
    let d = maxAbsDiff(a, b, file: file, line: line)
    XCTAssert(d <= tolerance, "\(message) max |Δ| = \(d) > \(tolerance)", file: file, line: line)
}

/// The folder of this test process's temporary directories, removed when the process exits:
/// copies of fixture models left behind by every run filled /tmp (57 GB after a day of runs).
private let testProcessRoot: String = {
    let root = NSTemporaryDirectory() + "polycom-test-\(getpid())-" + UUID().uuidString.prefix(8)
    try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: testProcessRoot) }
    return root
}()

/// A fresh temporary directory, removed with the others when the test process exits.
public func temporaryDirectory() -> String {
    let path = testProcessRoot + "/" + UUID().uuidString
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Copies a fixture model folder into a temporary directory so a test can damage it.
public func copyOfFixture(_ name: String) throws -> String {
    try copyOfFolder(fixtureModel(name))
}

/// Copies a folder's files into a temporary directory, symlinks resolved (a relative link
/// would dangle there).
public func copyOfFolder(_ path: String) throws -> String {
    let fm = FileManager.default
    let dest = temporaryDirectory() + "/" + URL(fileURLWithPath: path).lastPathComponent
    try fm.createDirectory(atPath: dest, withIntermediateDirectories: true)
    for name in try fm.contentsOfDirectory(atPath: path) {
        let source = URL(fileURLWithPath: path + "/" + name).resolvingSymlinksInPath().path
        try fm.copyItem(atPath: source, toPath: dest + "/" + name)
    }
    return dest
}

/// A copy of a fixture model whose weights were rewritten with `edit` applied to them.
public func editedFixture(_ name: String, _ edit: (inout [String: Tensor]) -> Void) throws -> String {
    let dir = try copyOfFixture(name)
    var tensors = try SafeTensorsFile(path: dir + "/model.safetensors").tensors()
    edit(&tensors)
    try SafeTensorsWriter.write(tensors, to: dir + "/model.safetensors")
    return dir
}

/// u = 2⁻²⁴: one rounding of an f32 result moves it by at most u times its magnitude.
public let unitRoundoff = Double(Float.ulpOfOne) / 2

/// γₙ = nu / (1 − nu): a sum of n f32 products, in any order, is within γₙ · Σ|terms|.
public func gamma(_ n: Int) -> Double { Double(n) * unitRoundoff / (1 - Double(n) * unitRoundoff) }

/// Asserts |got[i] − expected[i]| ≤ bounds[i] everywhere, reporting the worst element
/// (the largest error / bound).
public func assertWithin(_ got: [Float], _ expected: [Double], bounds: [Double], _ message: String = "",
                         file: StaticString = #filePath, line: UInt = #line) {
    guard got.count == expected.count, got.count == bounds.count else {
        return XCTFail("\(message) lengths \(got.count), \(expected.count), \(bounds.count)", file: file, line: line)
    }
    var worst = 0, ratio = 0.0
    for i in 0..<got.count {
        let error = abs(Double(got[i]) - expected[i])
        let r = error == 0 ? 0 : error / bounds[i]
        if r.isNaN { (worst, ratio) = (i, r); break } // a NaN fails whatever follows
        if r > ratio { (worst, ratio) = (i, r) }
    }
    XCTAssert(ratio <= 1, "\(message) [\(worst)] = \(got[worst]), expected \(expected[worst]) ± \(bounds[worst]) (error/bound \(ratio))",
              file: file, line: line)
}

extension SplitMix64 {
    /// `count` uniform floats in `range`, the same for the same seed.
    public mutating func floats(_ count: Int, in range: ClosedRange<Float>) -> [Float] {
        (0..<count).map { _ in Float.random(in: range, using: &self) }
    }
}
