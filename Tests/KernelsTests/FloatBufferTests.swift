import Foundation
import Kernels
import XCTest

/// Zeroed buffers are zero and cost memory only where written: the training memory estimate
/// counts gradients and moments as not resident while the checkpoint is still mapped.
final class FloatBufferTests: XCTestCase {
    /// VmRSS of this process in bytes.
    private func resident() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1) * 1024
    }

    func testZeroedBufferIsZeroAndResidentOnlyWhereWritten() throws {
        let count = 128 << 20  // 512 MiB of floats
        let before = try resident()
        let buffer = FloatBuffer(count: count)
        let allocated = try resident()
        for i in stride(from: 0, to: count, by: 1 << 18) { XCTAssertEqual(buffer[i], 0) }
        XCTAssertEqual(buffer[count - 1], 0)
        XCTAssertLessThan(allocated - before, 64 << 20, "a zeroed buffer was made resident before any write")
        buffer.pointer.update(repeating: 1, count: count / 2)
        let written = try resident()
        XCTAssertGreaterThan(written - before, 200 << 20, "the measurement sees the written half")
        XCTAssertEqual(buffer[count / 2 - 1], 1)
        XCTAssertEqual(buffer[count / 2], 0)
    }

    func testSmallBuffersAreZeroedToo() {
        for count in [0, 1, 3, 17, 4096] {
            let buffer = FloatBuffer(count: count)
            XCTAssertEqual(buffer.array, [Float](repeating: 0, count: count))
        }
    }
}
