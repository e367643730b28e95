import Kernels
import Model
import PolyKernels
import TestSupport
import XCTest

/// probe.c and Roofline.swift: the read loop really reads every byte (its result is the XOR
/// of all 64-bit words, worked out here), the parallel read starts every thread it is asked
/// for, and the bandwidth keeps one sample per timed read.
final class RooflineTests: XCTestCase {
    func testReadLoopFoldsEveryWord() {
        var rng = SplitMix64(seed: 7)
        let words = (0..<4096).map { _ in rng.next() } // 32 KiB: whole 512- and 256-byte steps
        let expected = words.reduce(0, ^)
        words.withUnsafeBytes { XCTAssertEqual(pk_probe_read($0.baseAddress!, $0.count), expected) }
        var changed = words
        changed[4095] ^= 1 << 63 // the last word's top bit: read too
        changed.withUnsafeBytes { XCTAssertEqual(pk_probe_read($0.baseAddress!, $0.count), expected ^ (1 << 63)) }
    }

    func testParallelReadRunsEveryThreadAndRefusesBadCounts() {
        let bytes = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 3, count: bytes)
        for threads in [1, 2, 5] { XCTAssertGreaterThan(pk_probe_read_parallel(buffer, bytes, Int32(threads), 2), 0, "\(threads) threads") }
        XCTAssertEqual(pk_probe_read_parallel(buffer, bytes, 0, 1), -1)
        XCTAssertEqual(pk_probe_read_parallel(buffer, bytes, 2, 0), -1)
    }

    func testReadBandwidthKeepsEverySampleAndMeasureOrdersThem() {
        let samples = Roofline.readBandwidth(threads: 2, bytes: 4 << 20, samples: 4)
        XCTAssertEqual(samples.count, 4)
        XCTAssertTrue(samples.allSatisfy { $0 > 0 && $0.isFinite })
        let limits = Roofline.measure(threads: 2, readBytes: 4 << 20, readSamples: 3, gemmSize: 64, repeats: 1)
        XCTAssertLessThanOrEqual(limits.readWorstGBPerS, limits.readMedianGBPerS)
        XCTAssertLessThanOrEqual(limits.readMedianGBPerS, limits.readGBPerS)
    }
}
