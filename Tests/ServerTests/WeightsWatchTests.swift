import Checkpoint
import Engine
import Foundation
import JSON
@testable import Server
import TestSupport
import XCTest

/// Fault drills on the weights file while serving: truncated between requests or during
/// one (read through the mapping without `MappedFaultGuard`, SIGBUS: this test process
/// would die) and overwritten in place.
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

    /// Arms the cut: the weights file is truncated to half when the engine admits its next
    /// sequence, after the request passed the per-request check and before the forward
    /// pass that reads it. The hook must stay alive (the engine holds it weakly).
    private func cutWeightsAtAdmission(_ service: InferenceService) throws -> (hook: OnFirstAdmission, size: Int) {
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: weightsPath)[.size] as? Int)
        let hook = OnFirstAdmission(forwardingTo: service.metrics) { [weightsPath] in _ = truncate(weightsPath, off_t(size / 2)) }
        try service.readyEngine().observer = hook
        return (hook, size)
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

    /// The file is cut between the per-request check and the forward pass.
    func testWeightsTruncatedDuringARequestFailItAndTheServerStaysUp() throws {
        let (service, port, log) = try serve(.mapped)
        defer { service.drainAndStop(grace: 1) }
        let (cutter, size) = try cutWeightsAtAdmission(service)
        let failed = Self.post(port, "/v1/completions", prompt)
        // 500 from the engine's check after the pass; the per-request check answers 503.
        assertError(failed, 500, mentions: "truncated from \(size) to \(size / 2) bytes")
        XCTAssertTrue(failed.text.contains("restart the server"), failed.text)
        XCTAssertEqual(cutter.admissions.value, 1)
        assertError(Self.request(port, "GET", "/health"), 503, mentions: "truncated")
        assertError(Self.post(port, "/v1/loglikelihood", ["requests": [["context": "a", "continuation": " b"]]]), 503, mentions: "truncated")
        XCTAssertEqual(Self.request(port, "GET", "/metrics").status, 200)
        assertError(Self.request(port, "GET", "/health"), 503, mentions: "truncated")
        XCTAssertEqual(log.value.filter { $0.contains("truncated") }.count, 1, "\(log.value)")
    }

    /// Scoring too: the batch fails with the change, not with scores computed from zeros.
    func testWeightsTruncatedDuringScoringFailIt() throws {
        let (service, port, _) = try serve(.mapped)
        defer { service.drainAndStop(grace: 1) }
        let (cutter, size) = try cutWeightsAtAdmission(service)
        let failed = Self.post(port, "/v1/loglikelihood", ["requests": [["context": "The capital of France is", "continuation": " Paris"]]])
        assertError(failed, 500, mentions: "truncated from \(size) to \(size / 2) bytes")
        assertError(Self.request(port, "GET", "/health"), 503, mentions: "truncated")
        XCTAssertEqual(cutter.admissions.value, 1)
    }

    /// A counted fault is a change even when the file looks as loaded again (cut, grown
    /// back, modification time restored): the engine's check must never come back empty.
    func testAFaultIsAChangeEvenWhenTheFileLooksAsLoadedAgain() throws {
        try MappedFaultGuard.install()
        let file = try SafeTensorsFile(path: weightsPath)
        let watch = WeightsWatch([file], loading: .mapped, log: { _ in })
        let size = file.snapshot.size
        var before = stat()
        XCTAssertEqual(stat(weightsPath, &before), 0)
        XCTAssertEqual(truncate(weightsPath, off_t(size / 2)), 0)
        XCTAssertEqual(file.mapping.bytes[size - 1], 0, "a lost page reads as zeros")
        XCTAssertEqual(file.mapping.readFaults, 1)
        XCTAssertEqual(truncate(weightsPath, off_t(size)), 0)
        var times = [before.st_atim, before.st_mtim]
        XCTAssertEqual(utimensat(AT_FDCWD, weightsPath, &times, 0), 0)
        XCTAssertNil(file.snapshot.change(), "the stat sees the file as loaded")
        XCTAssertEqual(watch.readFault(), "the model's weights changed on disk since they were loaded: \(weightsPath) "
                       + "lost pages while they were being read (the file was truncated); restart the server")
    }

    /// Streamed, the status went out before the pass: the error comes in the stream.
    func testWeightsTruncatedDuringAStreamEndItWithTheError() throws {
        let (service, port, _) = try serve(.mapped)
        defer { service.drainAndStop(grace: 1) }
        let (cutter, size) = try cutWeightsAtAdmission(service)
        let streamed = Self.post(port, "/v1/completions", ["prompt": "Once upon a time", "max_tokens": 4, "stream": true])
        XCTAssertEqual(streamed.status, 200)
        let events = streamed.text.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }
        let error = events.compactMap { try? JSONValue.parse(Array($0.utf8)) }.first { $0["error"] != nil }
        XCTAssertEqual(error?["error"]?["code"]?.intValue, 500, streamed.text)
        XCTAssertTrue(error?["error"]?["message"]?.stringValue?.contains("truncated from \(size)") == true, streamed.text)
        XCTAssertTrue(streamed.text.contains(#""finish_reason":"abort""#), streamed.text)
        XCTAssertEqual(events.last, "[DONE]")
        assertError(Self.request(port, "GET", "/health"), 503, mentions: "truncated")
        XCTAssertEqual(cutter.admissions.value, 1)
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
