@testable import Kernels
import XCTest

final class MallocHugePagesTests: XCTestCase {
    /// The tunable is added to what the user set, which stays as it was.
    func testTunableIsAddedToOthersAndAUserValueIsKept() {
        XCTAssertEqual(MallocHugePages.tunables(adding: nil), "glibc.malloc.hugetlb=1")
        XCTAssertEqual(MallocHugePages.tunables(adding: ""), "glibc.malloc.hugetlb=1")
        XCTAssertEqual(MallocHugePages.tunables(adding: "glibc.malloc.check=3"), "glibc.malloc.check=3:glibc.malloc.hugetlb=1")
        XCTAssertNil(MallocHugePages.tunables(adding: "glibc.malloc.hugetlb=0"))
        XCTAssertNil(MallocHugePages.tunables(adding: "glibc.malloc.arena_max=1:glibc.malloc.hugetlb=1"))
        // Another tunable whose name starts the same is not this one.
        XCTAssertEqual(MallocHugePages.tunables(adding: "glibc.malloc.hugetlbx=1"), "glibc.malloc.hugetlbx=1:glibc.malloc.hugetlb=1")
    }

    func testOnlyGlibc235OnKnowsTheTunable() {
        XCTAssertTrue(MallocHugePages.knowsTunable(glibcVersion: "2.35"))
        XCTAssertTrue(MallocHugePages.knowsTunable(glibcVersion: "2.36"))
        XCTAssertTrue(MallocHugePages.knowsTunable(glibcVersion: "3.0"))
        XCTAssertFalse(MallocHugePages.knowsTunable(glibcVersion: "2.34"))
        XCTAssertFalse(MallocHugePages.knowsTunable(glibcVersion: "2.9"))
        XCTAssertFalse(MallocHugePages.knowsTunable(glibcVersion: "unknown"))
    }
}
