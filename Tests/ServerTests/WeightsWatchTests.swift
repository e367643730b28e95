import Checkpoint
import Foundation
import JSON
import Server
import TestSupport
import XCTest

/// Fault drills on the weights file while serving: truncated (which, read through the
/// mapping, would be SIGBUS and take this test process down) and overwritten in place.
final class WeightsWatchTests: ServerTestCase {
    private var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "polycom-weights-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: Self.modelPath, toPath: folder)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    private var weightsPath: String { folder + "/model.safetensors" }
    private let prompt: JSONValue = ["prompt": "The capital of France is", "max_tokens": 4, "temperature": 0]

    private func serve(_ loading: WeightLoading) throws -> (InferenceService, UInt16, Shared<[String]>) {
        let lines = Shared<[String]>([])
        var options = ServerOptions()
        options.port = 0
        options.weightLoading = loading
        let service = InferenceService(modelPath: folder, options: options)
        service.log = { line in lines.update { $0.append(line) } }
        let port = try service.start()
        try service.load()
        return (service, port, lines)
    }

    private func truncateWeights() throws {
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: weightsPath)[.size] as? Int)
        XCTAssertEqual(truncate(weightsPath, off_t(size / 2)), 0)
    }

    func testTruncatedMappedWeightsFailRequestsAndHealthWithoutCrashing() throws {
        let (service, port, log) = try serve(.mapped)
        defer { service.drainAndStop(grace: 1) }
        XCTAssertEqual(Self.post(port, "/v1/completions", prompt).status, 200)
        try truncateWeights()
        let refused = Self.post(port, "/v1/completions", prompt)
        assertError(refused, 503, mentions: "truncated from 9443960")
        assertError(Self.request(port, "GET", "/health"), 503, mentions: "truncated")
        // Still up, and the change was logged once however often it is seen.
        assertError(Self.post(port, "/v1/loglikelihood", ["requests": [["context": "a", "continuation": " b"]]]), 503, mentions: "truncated")
        XCTAssertEqual(log.value.filter { $0.contains("truncated") }.count, 1, "\(log.value)")
    }

    func testWeightsOverwrittenInPlaceAreDetected() throws {
        let (service, port, log) = try serve(.mapped)
        defer { service.drainAndStop(grace: 1) }
        XCTAssertEqual(Self.request(port, "GET", "/health").status, 200)
        let file = try XCTUnwrap(FileHandle(forWritingAtPath: weightsPath))
        try file.seek(toOffset: 4096)
        try file.write(contentsOf: Data(repeating: 0x7F, count: 4096))
        try file.close()
        assertError(Self.request(port, "GET", "/health"), 503, mentions: "modified in place")
        assertError(Self.post(port, "/v1/completions", prompt), 503, mentions: "modified in place")
        XCTAssertTrue(log.value.contains { $0.contains("modified in place") && $0.contains("--no-mmap") }, "\(log.value)")
    }

    func testCopiedWeightsKeepServingTheLoadedModelAndReportTheChange() throws {
        let (service, port, log) = try serve(.copied)
        defer { service.drainAndStop(grace: 1) }
        let before = Self.post(port, "/v1/completions", prompt)
        XCTAssertEqual(before.status, 200, before.text)
        try truncateWeights()
        let after = Self.post(port, "/v1/completions", prompt)
        XCTAssertEqual(after.status, 200, after.text)
        XCTAssertEqual(after.json["choices"]?[0]?["text"], before.json["choices"]?[0]?["text"])
        let health = Self.request(port, "GET", "/health")
        XCTAssertEqual(health.status, 200)
        XCTAssertTrue(health.json["weights"]?.stringValue?.contains("truncated") == true, health.text)
        XCTAssertTrue(log.value.contains { $0.hasPrefix("warning:") && $0.contains("truncated") }, "\(log.value)")
    }
}
