#if canImport(Glibc)
import Glibc
#endif
import Checkpoint
import Foundation
import Kernels
import TestSupport
import XCTest

final class DurableFileTests: XCTestCase {
    /// Runs `body` where writes past `bytes` fail for real: a tmpfs of that size as root,
    /// otherwise this process's RLIMIT_FSIZE (SIGXFSZ ignored, so write returns EFBIG),
    /// restored afterwards. Returns the reason the failed write should give.
    func withSmallDisk(bytes: Int, _ body: (_ folder: String, _ reason: String) throws -> Void) throws {
        if let disk = smallFileSystem(bytes: bytes) { return try body(disk, "No space left on device") }
        let resource = __rlimit_resource_t(RLIMIT_FSIZE.rawValue)
        var saved = rlimit()
        getrlimit(resource, &saved)
        let handler = signal(SIGXFSZ, SIG_IGN)
        var limit = saved
        limit.rlim_cur = rlim_t(bytes)
        setrlimit(resource, &limit)
        defer { setrlimit(resource, &saved); signal(SIGXFSZ, handler) }
        try body(temporaryDirectory(), "File too large")
    }

    /// A write that does not fit fails naming the file and the system's reason, leaves the
    /// file that was there untouched, and no partial file behind.
    func testAFailedWriteKeepsThePreviousFileAndLeavesNoPartialFile() throws {
        try withSmallDisk(bytes: 256 << 10) { folder, reason in
            let path = folder + "/model.safetensors"
            let previous = [UInt8]((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
            try DurableFile.write(previous, to: path)
            XCTAssertThrowsError(try DurableFile.write([UInt8](repeating: 1, count: 400 << 10), to: path)) { error in
                XCTAssertEqual("\(error)", "\(path): cannot write: \(reason)")
            }
            XCTAssertEqual(FileManager.default.contents(atPath: path).map([UInt8].init), previous)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0 != "lost+found" }, ["model.safetensors"])
        }
    }

    /// The safetensors writer goes through it: a model too big for the disk is refused the same way.
    func testSafeTensorsWriterReportsAFullDisk() throws {
        try withSmallDisk(bytes: 64 << 10) { folder, reason in
            let path = folder + "/weights.safetensors"
            let big = Tensor([Float](repeating: 0.5, count: 128 * 256), shape: [128, 256])
            XCTAssertThrowsError(try SafeTensorsWriter.write(["w": big], to: path)) { error in
                XCTAssertEqual("\(error)", "\(path): cannot write: \(reason)")
            }
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0 != "lost+found" }, [])
        }
    }
}
