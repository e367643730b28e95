import Checkpoint
import Foundation
import XCTest

/// `FileSnapshot.change()` against real file operations, and the two ways of loading a file.
final class FileSnapshotTests: XCTestCase {
    private var path = ""

    override func setUpWithError() throws {
        path = NSTemporaryDirectory() + "polycom-snapshot-\(UUID().uuidString)"
        try Data((0..<10_000).map { UInt8($0 % 251) }).write(to: URL(fileURLWithPath: path))
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: path)
        try? FileManager.default.removeItem(atPath: path + ".new")
    }

    func testUnchangedFileReportsNothing() throws {
        let file = try MappedFile(path: path)
        XCTAssertNil(file.snapshot.change())
        XCTAssertEqual(file.snapshot.size, 10_000)
    }

    func testEveryKindOfChangeIsNamed() throws {
        let grown = try MappedFile(path: path).snapshot
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([1]))
        try handle.close()
        XCTAssertEqual(grown.change(), "\(path) grew from 10000 to 10001 bytes")

        let truncated = try MappedFile(path: path).snapshot
        XCTAssertEqual(Glibc.truncate(path, 100), 0)
        XCTAssertEqual(truncated.change(), "\(path) was truncated from 10001 to 100 bytes")

        let replaced = try MappedFile(path: path).snapshot
        try Data(repeating: 0, count: 100).write(to: URL(fileURLWithPath: path + ".new"))
        XCTAssertEqual(rename(path + ".new", path), 0)
        XCTAssertEqual(replaced.change(), "\(path) was replaced by another file")

        try FileManager.default.removeItem(atPath: path)
        XCTAssertTrue(replaced.change()?.hasPrefix("\(path) is gone") == true)
    }

    func testCopiedFileHoldsTheSameBytesAndOutlivesTruncation() throws {
        let mapped = try MappedFile(path: path, loading: .mapped)
        let copied = try MappedFile(path: path, loading: .copied)
        XCTAssertEqual(Array(copied.bytes), Array(mapped.bytes))
        XCTAssertEqual(Int(bitPattern: copied.bytes.baseAddress) % 64, 0)
        XCTAssertEqual(Glibc.truncate(path, 0), 0)
        // Read through the mapping now, this would be SIGBUS.
        XCTAssertEqual(Array(copied.bytes), (0..<10_000).map { UInt8($0 % 251) })
    }
}
