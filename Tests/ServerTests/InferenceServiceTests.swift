import Foundation
import JSON
@testable import Server
import TestSupport
import XCTest

/// Start-up of the service: a KV-cache budget below one full context is reported when the
/// model loads, and the errors it causes give exact sizes.
final class InferenceServiceTests: ServerTestCase {
    func testTooSmallKVCacheBudgetWarnsAndErrorsInExactUnits() throws {
        var options = ServerOptions()
        options.port = 0
        options.engine.kvCacheBytes = 64 << 10 // the demo model: 4,096 bytes per position, 16 positions
        let service = InferenceService(modelPath: Self.modelPath, options: options)
        let lines = Shared<[String]>([])
        service.log = { line in lines.update { $0.append(line) } }
        let port = try service.start()
        defer { service.drainAndStop(grace: 1) }
        try service.load()
        let warning = try XCTUnwrap(lines.value.first { $0.hasPrefix("warning:") }, "\(lines.value)")
        for phrase in ["65,536 bytes (64.00 KiB)", "16 positions", "512 positions", "2,097,152 bytes (2.00 MiB)", "--kv-cache-gib"] {
            XCTAssertTrue(warning.contains(phrase), "'\(warning)' lacks '\(phrase)'")
        }
        // 10 prompt tokens + 100 to generate = 110 positions = 450,560 bytes.
        let refused = Self.post(port, "/v1/completions", ["prompt": .array((0..<10).map { _ in 7 }), "max_tokens": 100])
        assertError(refused, 400, mentions: "450,560 bytes (440.00 KiB)")
        assertError(refused, 400, mentions: "65,536 bytes (64.00 KiB)")
        XCTAssertFalse(refused.text.contains("0 MiB"), refused.text)
        XCTAssertEqual(Self.post(port, "/v1/completions", ["prompt": [1, 7, 7], "max_tokens": 5]).status, 200)
    }

    /// A budget that holds a full context says nothing.
    func testAmpleBudgetDoesNotWarn() throws {
        var options = ServerOptions()
        options.port = 0
        options.engine.kvCacheBytes = 2 << 20
        let service = InferenceService(modelPath: Self.modelPath, options: options)
        let lines = Shared<[String]>([])
        service.log = { line in lines.update { $0.append(line) } }
        _ = try service.start()
        defer { service.drainAndStop(grace: 1) }
        try service.load()
        XCTAssertFalse(lines.value.contains { $0.hasPrefix("warning:") }, "\(lines.value)")
    }

    /// A handler still waiting on the engine (scoring, plain completions) when the grace
    /// runs out: the engine stops and the request is answered 503 before the connections
    /// close (without that, closing them cut it off with an empty reply).
    func testDrainEndsARequestStillWaitingOnTheEngineAfterTheGrace() throws {
        let (service, port) = try Self.startService()
        let working = DispatchSemaphore(value: 0)
        let hook = OnFirstAdmission(forwardingTo: service.metrics) { working.signal() }
        try service.readyEngine().observer = hook
        // Far more scoring than the half-second grace can finish.
        let pairs: [JSONValue] = (0..<20_000).map { i in ["context": .string("Item \(i) of the list is"), "continuation": " here"] }
        let reply = Shared<Reply?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            reply.update { $0 = Self.post(port, "/v1/loglikelihood", ["requests": .array(pairs)], timeout: 600) }
            done.signal()
        }
        working.wait()
        service.drainAndStop(grace: 0.5)
        done.wait()
        let r = try XCTUnwrap(reply.value)
        assertError(r, 503, mentions: "shutting down")
        XCTAssertGreaterThan(hook.admissions.value, 0)
    }
}
