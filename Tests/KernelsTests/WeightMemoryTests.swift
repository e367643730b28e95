import Foundation
import XCTest
@testable import Kernels

final class WeightMemoryTests: XCTestCase {
    /// Every size is zeroed, aligned and writable to its last byte, small ones and ones
    /// around the 2 MiB page.
    func testAllocationsAreZeroedAlignedAndWholeAtEverySize() throws {
        for size in [0, 1, 100, 4096, (2 << 20) - 1, 2 << 20, (2 << 20) + 1, (5 << 20) + 3] {
            let p = try XCTUnwrap(WeightMemory.allocate(size), "size \(size)")
            let bytes = max(size, 1)
            XCTAssertEqual(Int(bitPattern: p) % (size >= 2 << 20 ? 2 << 20 : 64), 0, "size \(size) alignment")
            let u = p.assumingMemoryBound(to: UInt8.self)
            XCTAssertFalse((0..<bytes).contains { u[$0] != 0 }, "size \(size) not zeroed")
            u[0] = 1
            u[bytes - 1] = 2
            XCTAssertEqual(u[bytes - 1], 2)
            WeightMemory.deallocate(p, bytes: size)
        }
    }

    /// Large allocations end up in huge pages where the kernel offers them on request
    /// (transparent huge pages in `madvise` or `always` mode): AnonHugePages of the mapping
    /// in /proc/self/smaps. Without the advice a `madvise`-mode kernel gives none.
    func testLargeAllocationsAreBackedByHugePages() throws {
        let mode = (try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)) ?? ""
        try XCTSkipIf(!mode.contains("[madvise]") && !mode.contains("[always]"),
                      "this kernel gives no transparent huge pages (\(mode.trimmingCharacters(in: .whitespacesAndNewlines)))")
        let size = 64 << 20
        let p = try XCTUnwrap(WeightMemory.allocate(size))
        defer { WeightMemory.deallocate(p, bytes: size) }
        memset(p, 1, size)
        let huge = try hugeKiB(of: p)
        XCTAssertGreaterThanOrEqual(huge, size / 2 / 1024, "AnonHugePages \(huge) kB of a \(size >> 20) MiB allocation")
    }

    /// AnonHugePages (kB) of the smaps entry holding `p` (the kernel may have merged the
    /// mapping with a neighbour).
    private func hugeKiB(of p: UnsafeMutableRawPointer) throws -> Int {
        // Read to the end: procfs files report size 0, which String(contentsOfFile:) trusts.
        let file = try XCTUnwrap(FileHandle(forReadingAtPath: "/proc/self/smaps"))
        defer { try? file.close() }
        let smaps = String(decoding: file.readDataToEndOfFile(), as: UTF8.self)
        let address = UInt(bitPattern: p)
        var inside = false
        for line in smaps.split(separator: "\n") {
            let range = line.split(separator: " ", maxSplits: 1)[0].split(separator: "-")
            if range.count == 2, let lo = UInt(range[0], radix: 16), let hi = UInt(range[1], radix: 16) {
                inside = lo <= address && address < hi
            } else if inside, line.hasPrefix("AnonHugePages:") {
                return Int(line.split(separator: " ")[1]) ?? 0
            }
        }
        XCTFail("no smaps entry holds \(String(address, radix: 16))")
        return 0
    }
}
