import Foundation
import JSON
import Server
import TestSupport
import XCTest

/// /v1/loglikelihood takes batches of any size up to its item limit, and other clients
/// keep being served while one runs.
final class LoglikelihoodEndpointTests: ServerTestCase {
    /// `count` pairs of token ids below `vocabulary` in groups of four endings per context
    /// (as lm-eval sends a HellaSwag question), seeded.
    func pairs(_ count: Int, vocabulary: Int = 32_000, seed: UInt64 = 9) -> [JSONValue] {
        var state = seed
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
        var out: [JSONValue] = []
        var context: [Int] = []
        for i in 0..<count {
            if i % 4 == 0 { context = [1] + (0..<(4 + next(9))).map { _ in 3 + next(vocabulary - 3) } }
            let continuation = (0..<(1 + next(3))).map { _ in 3 + next(vocabulary - 3) }
            out.append(["context": .array(context.map { .int($0) }), "continuation": .array(continuation.map { .int($0) })])
        }
        return out
    }

    func metric(_ port: UInt16, _ name: String) -> Int {
        let text = Self.request(port, "GET", "/metrics").text
        let line = text.split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return line.flatMap { Int($0.split(separator: " ").last!) } ?? -1
    }

    /// 10,000 pairs in one body (the default queue holds 256) give the results of the same
    /// pairs sent 100 at a time, and a completion sent meanwhile is answered before the
    /// batch ends. (On a fixture of vocabulary 320: on the demo model's 32,000 the output
    /// layer alone makes 20,000 pairs take a minute of a debug build.)
    func testTenThousandPairsEqualBatchesOfAHundredWhileOthersAreServed() throws {
        let dir = try copyOfFixture("polynorm-f32")
        try FileManager.default.copyItem(atPath: Self.modelPath + "/tokenizer.json", toPath: dir + "/tokenizer.json")
        let (service, port) = try Self.startService(model: dir)
        defer { service.drainAndStop(grace: 1) }
        let items = pairs(10_000, vocabulary: 320)
        let big = Shared<Reply?>(nil)
        let started = metric(port, "polycom_prompt_tokens_total")
        let batch = Thread {
            let reply = Self.post(port, "/v1/loglikelihood", ["requests": .array(items)], timeout: 600)
            big.update { $0 = reply }
        }
        batch.start()
        // Once the batch is in the engine, an ordinary request must not wait for all of it.
        while metric(port, "polycom_prompt_tokens_total") == started && big.value == nil { Thread.sleep(forTimeInterval: 0.01) }
        let other = Self.post(port, "/v1/completions", ["prompt": [1, 17, 42, 99], "max_tokens": 4, "ignore_eos": true])
        let batchDoneFirst = big.value != nil
        XCTAssertEqual(other.status, 200, other.text)
        XCTAssertEqual(other.json["usage"]?["completion_tokens"]?.intValue, 4)
        XCTAssertFalse(batchDoneFirst, "the completion waited for the whole batch")
        // /metrics keeps answering during the batch (it once took the engine's lock inside
        // its own while the engine thread, holding its lock, waited for the metrics').
        while big.value == nil {
            XCTAssertEqual(Self.request(port, "GET", "/metrics", timeout: 30).status, 200)
            Thread.sleep(forTimeInterval: 0.01)
        }
        let reply = try XCTUnwrap(big.value)
        XCTAssertEqual(reply.status, 200, String(reply.text.prefix(300)))
        let results = try XCTUnwrap(reply.json["results"]?.arrayValue)
        XCTAssertEqual(results.count, 10_000)

        var expected: [JSONValue] = []
        for start in stride(from: 0, to: items.count, by: 100) {
            let r = Self.post(port, "/v1/loglikelihood", ["requests": .array(Array(items[start..<(start + 100)]))])
            XCTAssertEqual(r.status, 200, r.text)
            expected += try XCTUnwrap(r.json["results"]?.arrayValue)
        }
        XCTAssertEqual(expected.count, 10_000)
        var worst = 0.0
        for (i, (a, b)) in zip(results, expected).enumerated() {
            let x = try XCTUnwrap(a["logprob"]?.doubleValue), y = try XCTUnwrap(b["logprob"]?.doubleValue)
            worst = max(worst, abs(x - y))
            XCTAssertEqual(a["num_tokens"], b["num_tokens"], "pair \(i)")
            XCTAssertEqual(items[i]["continuation"]?.arrayValue?.count, a["num_tokens"]?.intValue, "pair \(i)")
            XCTAssertEqual(a["is_greedy"], b["is_greedy"], "pair \(i)")
        }
        XCTAssertLessThan(worst, 1e-4, "largest difference between the big batch and batches of 100")
        // Nothing of the batch is left counted against the queue.
        XCTAssertEqual(metric(port, "polycom_sequences_waiting"), 0)
    }

    /// The batch's items do not take the queue's places: with two places and one running
    /// sequence (a window of eight items in flight, six of them waiting), a completion sent
    /// while 2,000 pairs are scored is queued and answered, not refused with 429.
    func testBatchItemsLeaveTheQueueToOtherClients() throws {
        let dir = try copyOfFixture("polynorm-f32")
        try FileManager.default.copyItem(atPath: Self.modelPath + "/tokenizer.json", toPath: dir + "/tokenizer.json")
        let (service, port) = try Self.startService(model: dir) {
            $0.engine.maxQueue = 2
            $0.engine.maxSequences = 1
        }
        defer { service.drainAndStop(grace: 1) }
        let big = Shared<Reply?>(nil)
        let started = metric(port, "polycom_prompt_tokens_total")
        let batch = Thread {
            let reply = Self.post(port, "/v1/loglikelihood", ["requests": .array(self.pairs(2_000, vocabulary: 320))], timeout: 600)
            big.update { $0 = reply }
        }
        batch.start()
        while metric(port, "polycom_prompt_tokens_total") == started && big.value == nil { Thread.sleep(forTimeInterval: 0.01) }
        let other = Self.post(port, "/v1/completions", ["prompt": [1, 17, 42, 99], "max_tokens": 4, "ignore_eos": true])
        XCTAssertNil(big.value, "the batch ended before the completion was sent: nothing was tested")
        XCTAssertEqual(other.status, 200, other.text)
        while big.value == nil { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertEqual(big.value?.status, 200)
        XCTAssertEqual(big.value?.json["results"]?.arrayValue?.count, 2_000)
    }

    /// A queue of one and one running sequence still score a batch of 300; beyond the
    /// item limit the batch is refused with a 400 that names the limit.
    func testBatchesIgnoreTheQueueLimitAndStopAtTheItemLimit() throws {
        let (service, port) = try Self.startService {
            $0.engine.maxQueue = 1
            $0.engine.maxSequences = 1
            $0.maxLoglikelihoodItems = 300
        }
        defer { service.drainAndStop(grace: 1) }
        let items = pairs(301)
        let ok = Self.post(port, "/v1/loglikelihood", ["requests": .array(Array(items.prefix(300)))])
        XCTAssertEqual(ok.status, 200, ok.text)
        XCTAssertEqual(ok.json["results"]?.arrayValue?.count, 300)
        assertError(Self.post(port, "/v1/loglikelihood", ["requests": .array(items)]), 400, mentions: "at most 300")
        assertError(Self.post(port, "/v1/loglikelihood", ["requests": .array(items)]), 400, mentions: "--max-loglikelihood-items")
        // The next ordinary request is served.
        XCTAssertEqual(Self.post(port, "/v1/completions", ["prompt": "Hi", "max_tokens": 2]).status, 200)
        // A bad id anywhere in the batch is refused up front, naming the item.
        var bad = Array(items.prefix(200))
        bad[150] = ["context": [1, 5], "continuation": [32_000]]
        assertError(Self.post(port, "/v1/loglikelihood", ["requests": .array(bad)]), 400, mentions: "requests[150]")
    }

    /// A batch waits for no one: when other clients' requests fill the queue it is refused
    /// with 429 like any request (lm-eval retries), instead of holding its connection open.
    func testBatchIsRefusedWith429WhenTheQueueIsFull() throws {
        let (service, port) = try Self.startService {
            $0.engine.maxQueue = 1
            $0.engine.maxSequences = 1
        }
        defer { service.drainAndStop(grace: 5) }
        let done = DispatchGroup()
        let deadline = Date(timeIntervalSinceNow: 30)
        var metrics = ""
        // One runs, then one waits. The second is sent only once the first runs: sent
        // together, both can find the one queue place taken and one is refused instead.
        for (prompt, gauge) in [("Hi", "polycom_sequences_running 1\n"), ("Once upon a time", "polycom_sequences_waiting 1\n")] {
            DispatchQueue.global().async(group: done) {
                _ = Self.post(port, "/v1/completions", ["prompt": .string(prompt), "max_tokens": 500, "ignore_eos": true])
            }
            repeat {
                Thread.sleep(forTimeInterval: 0.02)
                metrics = Self.request(port, "GET", "/metrics").text
            } while !metrics.contains(gauge) && Date() < deadline
            XCTAssertTrue(metrics.contains(gauge), "never saw \(gauge):\n\(metrics)")
        }
        assertError(Self.post(port, "/v1/loglikelihood", ["requests": .array(pairs(3))]), 429, mentions: "too many requests waiting")
        done.wait()
        XCTAssertEqual(Self.post(port, "/v1/loglikelihood", ["requests": .array(pairs(3))]).status, 200)
    }
}
