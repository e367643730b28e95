@testable import Kernels
import XCTest

final class BLASCoreTests: XCTestCase {
    /// OpenBLAS's generic fallback on a CPU it does not know is replaced by the family that
    /// matches the CPU's vector extensions.
    func testGenericFamiliesAreReplacedByTheCPUsLevel() {
        XCTAssertEqual(BLASCore.replacement(for: "Prescott", cpuLevel: 3, userSet: false), "SkylakeX")
        XCTAssertEqual(BLASCore.replacement(for: "Prescott", cpuLevel: 4, userSet: false), "Cooperlake")
        XCTAssertEqual(BLASCore.replacement(for: "Core2", cpuLevel: 2, userSet: false), "Haswell")
        XCTAssertEqual(BLASCore.replacement(for: "Sandybridge", cpuLevel: 3, userSet: false), "SkylakeX")
    }

    func testAUserChoiceAndNonGenericFamiliesAreKept() {
        XCTAssertNil(BLASCore.replacement(for: "Prescott", cpuLevel: 3, userSet: true))
        XCTAssertNil(BLASCore.replacement(for: "Haswell", cpuLevel: 4, userSet: false))
        XCTAssertNil(BLASCore.replacement(for: "Zen", cpuLevel: 3, userSet: false))
        XCTAssertNil(BLASCore.replacement(for: "SkylakeX", cpuLevel: 4, userSet: false))
        // A CPU without AVX2 gains nothing from another family.
        XCTAssertNil(BLASCore.replacement(for: "Prescott", cpuLevel: 1, userSet: false))
        // A family a newer OpenBLAS adds is not second-guessed.
        XCTAssertNil(BLASCore.replacement(for: "Diamondrapids", cpuLevel: 4, userSet: false))
    }

    /// The name is the library's own: its build line carries the same family.
    func testTheRunningFamilyIsTheLibrarysOwn() {
        XCTAssertFalse(BLASCore.name.isEmpty)
        XCTAssertTrue(BLASCore.configuration.lowercased().contains(BLASCore.name.lowercased()), BLASCore.configuration)
        XCTAssertTrue(BLASCore.summary.hasPrefix("BLAS: OpenBLAS \(BLASCore.name) kernels"), BLASCore.summary)
    }
}
