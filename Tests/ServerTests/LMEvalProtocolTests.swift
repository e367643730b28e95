import Foundation
import JSON
import Server
import TestSupport
import XCTest

/// The requests lm-evaluation-harness's `local-completions` model sends, parsed the way it
/// parses them (lm_eval/models/openai_completions.py), without needing lm-eval installed.
final class LMEvalProtocolTests: ServerTestCase {
    static var service: InferenceService!
    static var port: UInt16 = 0

    override class func setUp() {
        super.setUp()
        (service, port) = try! startService()
    }

    override class func tearDown() {
        service.drainAndStop(grace: 1)
        super.tearDown()
    }

    var port: UInt16 { Self.port }

    /// RemoteTokenizer: /tokenizer_info must carry eos_token, /tokenize without special
    /// tokens must map that string back to the EOS id (lm-eval takes `encode(eos)[0]`).
    func testRemoteTokenizerHandshake() throws {
        let info = Self.request(port, "GET", "/tokenizer_info").json
        let eos = try XCTUnwrap(info["eos_token"]?.stringValue)
        let ids = Self.post(port, "/tokenize", ["prompt": .string(eos), "add_special_tokens": false]).json["tokens"]
        XCTAssertEqual(ids?.arrayValue?.first?.intValue, info["eos_token_id"]?.intValue)
        let test = Self.post(port, "/tokenize", ["prompt": "test", "add_special_tokens": false]).json["tokens"]
        XCTAssertNotNil(test?.arrayValue, "lm-eval's remote-tokenizer probe expects a token list")
    }

    /// A loglikelihood batch as lm-eval sends it (token lists, echo, logprobs 1, max_tokens 1):
    /// sum(token_logprobs[ctxlen:-1]) and its greedy test equal /v1/loglikelihood's answer.
    func testLoglikelihoodBatchAsLMEvalParsesIt() throws {
        func ids(_ text: String) throws -> [Int] {
            try XCTUnwrap(Self.post(port, "/tokenize", ["prompt": .string(text), "add_special_tokens": false])
                .json["tokens"]?.arrayValue).map { $0.intValue! }
        }
        let context = try ids("A man is sitting on a roof. He")
        let endings = try [" is using wrap to wrap a pair of skis.", " is ripping level tiles off.",
                           " is holding a rubik's cube.", " starts pulling up roofing on a roof."].map(ids)
        let batch: JSONValue = ["model": "demo", "prompt": .array(endings.map { .array((context + $0).map { .int($0) }) }),
                                "temperature": 0, "max_tokens": 1, "logprobs": 1, "seed": 1234, "echo": true]
        let reply = Self.post(port, "/v1/completions", batch)
        XCTAssertEqual(reply.status, 200, reply.text)
        let choices = try XCTUnwrap(reply.json["choices"]?.arrayValue).sorted { $0["index"]!.intValue! < $1["index"]!.intValue! }
        XCTAssertEqual(choices.count, 4)
        let native = Self.post(port, "/v1/loglikelihood", ["requests": .array(endings.map {
            ["context": .array(context.map { .int($0) }), "continuation": .array($0.map { .int($0) })]
        })])
        let results = try XCTUnwrap(native.json["results"]?.arrayValue)
        for (i, choice) in choices.enumerated() {
            let lps = try XCTUnwrap(choice["logprobs"]?["token_logprobs"]?.arrayValue)
            let tops = try XCTUnwrap(choice["logprobs"]?["top_logprobs"]?.arrayValue)
            XCTAssertEqual(lps.count, context.count + endings[i].count + 1, "prompt tokens + 1 generated")
            let scored = Array(lps[context.count..<(lps.count - 1)]).map { $0.doubleValue! }
            let greedy = zip(scored, tops[context.count..<(tops.count - 1)]).allSatisfy { lp, top in
                top.objectValue!.entries.map { $0.value.doubleValue! }.max() == lp
            }
            XCTAssertEqual(scored.reduce(0, +), results[i]["logprob"]?.doubleValue ?? .nan, accuracy: 1e-4)
            XCTAssertEqual(greedy, results[i]["is_greedy"]?.boolValue)
        }
    }

    /// A generation request as lm-eval sends it for generate_until tasks.
    func testGenerateUntilPayload() throws {
        let reply = Self.post(port, "/v1/completions", ["prompt": ["Question: What is the sky?\nAnswer:"], "model": "demo",
                                                       "max_tokens": 32, "temperature": 0, "stop": ["\n\n", "Question:"],
                                                       "seed": 1234])
        XCTAssertEqual(reply.status, 200, reply.text)
        let text = try XCTUnwrap(reply.json["choices"]?[0]?["text"]?.stringValue)
        XCTAssertFalse(text.contains("\n\n") || text.contains("Question:"), text)
    }
}
