import Checkpoint
import Foundation
import Kernels
import TestSupport
import XCTest

final class SafeTensorsTests: XCTestCase {
    /// Reads a file written by Python's safetensors (a fixture) and checks values against
    /// the reference's own copy of the same tokens.
    func testReadsPythonWrittenFile() throws {
        let file = try reference("polynorm-f32")
        let tokens = try file.tensor("tokens_7")
        XCTAssertEqual(tokens.dtype, .i64)
        XCTAssertEqual(tokens.shape, [7])
        XCTAssertTrue(tokens.ints().allSatisfy { $0 >= 0 && $0 < 320 })
        let logits = try file.tensor("logits_7")
        XCTAssertEqual(logits.dtype, .f32)
        XCTAssertEqual(logits.shape, [7, 320])
    }

    func testShardedBF16FolderLoadsEveryTensor() throws {
        let folder = try CheckpointFolder(path: fixtureModel("polynorm-bf16-sharded"))
        XCTAssertGreaterThanOrEqual(folder.files.count, 2)
        let embed = try folder.tensor("model.embed_tokens.weight")
        XCTAssertEqual(embed.dtype, .bf16)
        XCTAssertEqual(embed.shape, [folder.config.vocabSize, folder.config.hiddenSize])
    }

    func testWriteThenReadRoundTrip() throws {
        let dir = temporaryDirectory()
        let a = Tensor([1, -2, 3.5, 4, 5, 6], shape: [2, 3])
        let b = a.converted(to: .bf16)
        let ids = Tensor(ints: [7, 8, 9], shape: [3])
        let empty = Tensor([], shape: [0, 4])
        try SafeTensorsWriter.write(["a": a, "b": b, "ids": ids, "empty": empty], to: dir + "/t.safetensors")
        let file = try SafeTensorsFile(path: dir + "/t.safetensors")
        XCTAssertEqual(file.metadata, ["format": "pt"])
        XCTAssertEqual(try file.tensor("a").floats(), [1, -2, 3.5, 4, 5, 6])
        XCTAssertEqual(try file.tensor("b").dtype, .bf16)
        XCTAssertEqual(try file.tensor("b").floats(), [1, -2, 3.5, 4, 5, 6])
        XCTAssertEqual(try file.tensor("ids").ints(), [7, 8, 9])
        XCTAssertEqual(try file.tensor("empty").shape, [0, 4])
        // The header is padded to a multiple of 8 bytes.
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/t.safetensors"))
        let n = data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertEqual(n % 8, 0)
    }

    // MARK: corrupt files

    /// Writes `header` (JSON text) and `dataBytes` bytes of data as a safetensors file.
    private func write(header: String, dataBytes: Int, declaredLength: UInt64? = nil) -> String {
        var data = Data()
        let h = Array(header.utf8)
        withUnsafeBytes(of: (declaredLength ?? UInt64(h.count)).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: h)
        data.append(contentsOf: [UInt8](repeating: 0, count: dataBytes))
        let path = temporaryDirectory() + "/bad.safetensors"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: data))
        return path
    }

    private func assertRejected(_ path: String, mentions phrase: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensorsFile(path: path), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(phrase), "'\(text)' does not mention '\(phrase)'", file: file, line: line)
            XCTAssertTrue(text.contains(path), "error should name the file: \(text)", file: file, line: line)
        }
    }

    /// A copy puts the tensor data on a 64-byte boundary whatever the header's length (8 + n,
    /// n a multiple of 8 as writers pad it, so the data start is rarely on a line), and its
    /// tensors hold the same bytes as the mapping's.
    func testCopiedFileAlignsTensorDataToCacheLines() throws {
        let dir = NSTemporaryDirectory() + "polycom-align-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var misaligned = 0
        for names in [["a"], ["a", "bb"], ["a", "bb", "ccc"], ["weight.with.a.longer.name"]] {
            let path = dir + "/t.safetensors"
            let tensors = Dictionary(uniqueKeysWithValues: names.enumerated().map { i, name in
                (name, Tensor((0..<(64 + i)).map { Float($0) * 0.5 }, shape: [64 + i]).converted(to: .bf16))
            })
            try SafeTensorsWriter.write(tensors, to: path)
            let mapped = try SafeTensorsFile(path: path, loading: .mapped)
            let copied = try SafeTensorsFile(path: path, loading: .copied)
            XCTAssertEqual(copied.header.dataOffset, mapped.header.dataOffset)
            if copied.header.dataOffset % 64 != 0 { misaligned += 1 }
            let data = copied.mapping.bytes.baseAddress! + copied.header.dataOffset
            XCTAssertEqual(Int(bitPattern: data) % 64, 0, "data offset \(copied.header.dataOffset)")
            for name in names {
                XCTAssertEqual(Array(try copied.tensor(name).bytes), Array(try mapped.tensor(name).bytes), name)
            }
        }
        XCTAssertGreaterThan(misaligned, 0, "no header length here needed the copy to move its data")
    }

    func testTruncatedFile() throws {
        let good = write(header: #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, dataBytes: 16)
        XCTAssertNoThrow(try SafeTensorsFile(path: good))
        let data = try Data(contentsOf: URL(fileURLWithPath: good))
        let cut = temporaryDirectory() + "/cut.safetensors"
        XCTAssertTrue(FileManager.default.createFile(atPath: cut, contents: data.prefix(data.count - 5)))
        assertRejected(cut, mentions: "truncated")
        XCTAssertTrue(FileManager.default.createFile(atPath: cut, contents: data.prefix(5)))
        assertRejected(cut, mentions: "too short")
    }

    func testHeaderLongerThanFile() {
        let path = write(header: #"{}"#, dataBytes: 0, declaredLength: 4096)
        assertRejected(path, mentions: "longer than the file")
    }

    func testHeaderOverLimit() {
        let path = write(header: #"{}"#, dataBytes: 0, declaredLength: 200_000_000)
        assertRejected(path, mentions: "limit")
    }

    func testOverlappingOffsets() {
        let header = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#
        assertRejected(write(header: header, dataBytes: 24), mentions: "overlaps")
    }

    func testGapBetweenTensors() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}"#
        assertRejected(write(header: header, dataBytes: 20), mentions: "gap")
    }

    func testDtypeShapeByteSizeMismatch() {
        let header = #"{"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,16]}}"#
        assertRejected(write(header: header, dataBytes: 16), mentions: "8 bytes but its data_offsets span 16")
    }

    func testShapeOverflow() {
        let header = #"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}"#
        assertRejected(write(header: header, dataBytes: 16), mentions: "overflows")
    }

    func testDuplicateNames() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        assertRejected(write(header: header, dataBytes: 8), mentions: "duplicate")
    }

    func testTrailingBytesAndBadHeaders() {
        assertRejected(write(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 9),
                       mentions: "not described")
        assertRejected(write(header: "[1,2]", dataBytes: 0), mentions: "start with '{'")
        assertRejected(write(header: #"{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4),
                       mentions: "unknown dtype")
        assertRejected(write(header: "{\"a\u{FFFD}\": 1", dataBytes: 0), mentions: "header")
        var bad = Data()
        withUnsafeBytes(of: UInt64(4).littleEndian) { bad.append(contentsOf: $0) }
        bad.append(contentsOf: [0x7b, 0xff, 0xfe, 0x7d])
        let path = temporaryDirectory() + "/utf8.safetensors"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: bad))
        assertRejected(path, mentions: "UTF-8")
    }

    func testEmptyAndMissingFiles() {
        let path = temporaryDirectory() + "/empty.safetensors"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data()))
        assertRejected(path, mentions: "too short")
        XCTAssertThrowsError(try SafeTensorsFile(path: "/nonexistent/x.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("No such file"), "\(error)")
        }
    }
}
