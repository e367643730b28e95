import Engine
@testable import Evaluation
import Foundation
import Server
import TestSupport
import XCTest

/// `--server`: the same scoring through `/v1/loglikelihood` of real `polycom serve`
/// services on loopback.
final class ServerPoolTests: XCTestCase {
    static func startServer() throws -> (InferenceService, UInt16) {
        var options = ServerOptions()
        options.port = 0
        let service = InferenceService(modelPath: Demo.path, options: options)
        service.log = { _ in }
        let port = try service.start()
        try service.load()
        return (service, port)
    }

    /// Two servers give the in-process results; the second dies after answering one request
    /// (it is stopped just before its second one, while the first server is held back so
    /// work is certainly left), is named in the log, and the first one does the rest.
    func testTwoServersMatchTheInProcessRunAndOneDyingMidRunIsSurvived() throws {
        let tasks = [try Demo.task(.arcEasy, limit: 8), try Demo.task(.hellaswag, limit: 8), try Demo.task(.sciq, limit: 4)]
        let local = try Demo.evaluate(tasks)
        let (a, portA) = try Self.startServer(), (b, portB) = try Self.startServer()
        defer { a.drainAndStop(grace: 0) }
        let logs = Shared<[String]>([])
        let pool = ServerPool(urls: ["http://127.0.0.1:\(portA)", "http://127.0.0.1:\(portB)/v1/"], timeout: 60,
                              log: { line in logs.update { $0.append(line) } })
        pool.maxPairs = 12
        let bStopped = DispatchSemaphore(value: 0)
        let requests = Shared([0, 0])
        pool.beforeRequest = { server, attempt in
            requests.update { $0[server] += 1 }
            if server == 0 && attempt == 1 { _ = bStopped.wait(timeout: .now() + 60) }
            if server == 1 && attempt == 1 {
                b.drainAndStop(grace: 0)
                bStopped.signal()
            }
        }
        let remote = try Demo.evaluate(tasks, scorer: pool)
        XCTAssertFalse(remote.interrupted)
        XCTAssertEqual(Demo.resultsText(remote, tasks), Demo.resultsText(local, tasks))
        assertSameSamples(remote.samples, local.samples)
        XCTAssertEqual(requests.value[1], 2, "the second server answered one request and failed the next")
        XCTAssertGreaterThan(requests.value[0], 3)
        XCTAssertTrue(logs.value.contains { $0.contains("server http://127.0.0.1:\(portB) failed") && $0.contains("other servers") },
                      "\(logs.value)")
        XCTAssertNil(remote.computedTokens)
    }

    func testEveryServerDownIsAnErrorNamingThem() throws {
        let (dead, port) = try Self.startServer()
        dead.drainAndStop(grace: 0)
        let pool = ServerPool(urls: ["http://127.0.0.1:\(port)"], timeout: 10, log: { _ in })
        XCTAssertThrowsError(try Demo.evaluate([try Demo.task(.arcEasy, limit: 2)], scorer: pool)) {
            guard case .serversFailed(let reasons) = $0 as? EvaluationError else { return XCTFail("\($0)") }
            XCTAssertEqual(reasons.count, 1)
            XCTAssertTrue(reasons[0].contains("127.0.0.1:\(port)"), "\(reasons)")
        }
    }

    /// A request the server calls invalid is not retried elsewhere: the run stops with its message.
    func testARefusedRequestStopsTheRun() throws {
        let (service, port) = try Self.startServer()
        defer { service.drainAndStop(grace: 0) }
        let pool = ServerPool(urls: ["http://127.0.0.1:\(port)"], timeout: 30, log: { _ in })
        let tooLong = [[ScoringPair(context: Array(repeating: 5, count: 600), continuation: [6])]]
        XCTAssertThrowsError(try pool.score(tooLong, shouldStop: { false }) { _, _ in }) {
            guard case .serverRefused(_, let message) = $0 as? EvaluationError else { return XCTFail("\($0)") }
            XCTAssertTrue(message.contains("HTTP 400") && message.contains("maximum context length"), message)
        }
    }

    func testRequestsHoldWholeDocuments() {
        let unit = { (n: Int) in [ScoringPair](repeating: ScoringPair(context: [1], continuation: [2]), count: n) }
        XCTAssertEqual(ServerPool.requests([unit(4), unit(4), unit(5), unit(9), unit(1)], maxPairs: 8), [0..<2, 2..<3, 3..<4, 4..<5])
    }
}
