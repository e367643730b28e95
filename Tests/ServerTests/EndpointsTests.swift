import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import JSON
import Kernels
import Server
import TestSupport
import Tokenizer
import XCTest

/// Scoring, tokenizer, model, health and metrics routes, every error status, and garbage.
final class EndpointsTests: ServerTestCase {
    static var service: InferenceService!
    static var port: UInt16 = 0

    override class func setUp() {
        super.setUp()
        (service, port) = try! startService { $0.maxBodyBytes = 1 << 20 }
    }

    override class func tearDown() {
        service.drainAndStop(grace: 1)
        super.tearDown()
    }

    var port: UInt16 { Self.port }

    /// The native scores equal the sums of the echoed prompt log-probs of the same tokens,
    /// with lm-eval's convention: the context's trailing space moves to the continuation.
    func testLoglikelihoodAgreesWithEchoLogprobs() throws {
        let tokenizer = try Tokenizer(path: Self.modelPath)
        let pairs = [("The capital of France is ", "Paris"), ("The capital of France is", " London"), ("A man", " is sitting")]
        let r = Self.post(port, "/v1/loglikelihood", ["requests": .array(pairs.map { ["context": .string($0.0), "continuation": .string($0.1)] })])
        XCTAssertEqual(r.status, 200, r.text)
        let results = try XCTUnwrap(r.json["results"]?.arrayValue)
        XCTAssertEqual(results.count, 3)
        for (i, (c, x)) in pairs.enumerated() {
            let context = String(c.reversed().drop { $0 == " " }.reversed())
            let continuation = String(c.dropFirst(context.count)) + x
            let contextIds = [1] + tokenizer.encode(context, addSpecialTokens: false)
            let whole = tokenizer.encode(context + continuation, addSpecialTokens: false)
            let contIds = Array(whole[(contextIds.count - 1)...])
            let echo = Self.post(port, "/v1/completions", ["prompt": .array((contextIds + contIds).map { .int($0) }),
                                                             "max_tokens": 0, "echo": true, "logprobs": 1])
            let lps = try XCTUnwrap(echo.json["choices"]?[0]?["logprobs"]?["token_logprobs"]?.arrayValue).suffix(contIds.count)
            let top = try XCTUnwrap(echo.json["choices"]?[0]?["logprobs"]?["top_logprobs"]?.arrayValue).suffix(contIds.count)
            let sum = lps.reduce(0.0) { $0 + $1.doubleValue! }
            XCTAssertEqual(results[i]["logprob"]?.doubleValue ?? 0, sum, accuracy: 1e-4, "pair \(i)")
            XCTAssertEqual(results[i]["num_tokens"]?.intValue, contIds.count)
            let greedy = zip(lps, top).allSatisfy { lp, t in t.objectValue!.entries.map { $0.value.doubleValue! }.max() == lp.doubleValue }
            XCTAssertEqual(results[i]["is_greedy"]?.boolValue, greedy)
        }
        let ids = Self.post(port, "/v1/loglikelihood", ["requests": [["context": [1, 450], "continuation": [7483, 310]]]])
        XCTAssertEqual(ids.json["results"]?[0]?["num_tokens"]?.intValue, 2)
    }

    /// Text pairs become the token pairs lm-evaluation-harness makes of them (its own code
    /// with the Hugging Face tokenizer, BOS on as this template adds it; recorded by
    /// tools/reference/make_eval_reference.py): trailing whitespace of any kind — newlines
    /// and tabs too — moves to the continuation, as `polycom eval` does.
    func testTextPairsScoreAsTheTokenPairsLMEvalMakes() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturesDirectory + "/eval/lm-eval-reference.json"))
        let cases = try XCTUnwrap(try JSONValue.parse([UInt8](data))["pairs"]?.arrayValue).filter { $0["add_bos_token"] == true }
        XCTAssertEqual(cases.count, 8)
        let text = Self.post(port, "/v1/loglikelihood", ["requests": .array(cases.map {
            ["context": $0["context"]!, "continuation": $0["continuation"]!]
        })])
        let ids = Self.post(port, "/v1/loglikelihood", ["requests": .array(cases.map {
            ["context": $0["context_tokens"]!, "continuation": $0["continuation_tokens"]!]
        })])
        XCTAssertEqual(text.status, 200, text.text)
        XCTAssertEqual(ids.status, 200, ids.text)
        let byText = try XCTUnwrap(text.json["results"]?.arrayValue), byIds = try XCTUnwrap(ids.json["results"]?.arrayValue)
        for (i, c) in cases.enumerated() {
            let what = "\(c["context"]!.serialized()) + \(c["continuation"]!.serialized())"
            XCTAssertEqual(byText[i]["num_tokens"]?.intValue, c["continuation_tokens"]?.arrayValue?.count, what)
            XCTAssertEqual(byText[i]["logprob"]?.doubleValue ?? 0, byIds[i]["logprob"]?.doubleValue ?? 1, accuracy: 1e-5, what)
        }
    }

    func testTokenizeDetokenizeAndInfoAtBothPrefixes() throws {
        let tokenizer = try Tokenizer(path: Self.modelPath)
        for prefix in ["", "/v1"] {
            let t = Self.post(port, prefix + "/tokenize", ["prompt": "Hello world", "add_special_tokens": true])
            XCTAssertEqual(t.status, 200, t.text)
            let ids = try XCTUnwrap(t.json["tokens"]?.arrayValue).map { $0.intValue! }
            XCTAssertEqual(ids, tokenizer.encode("Hello world", addSpecialTokens: true))
            XCTAssertEqual(t.json["count"]?.intValue, ids.count)
            XCTAssertEqual(t.json["max_model_len"]?.intValue, 512)
            let plain = Self.post(port, prefix + "/tokenize", ["prompt": "Hello world", "add_special_tokens": false])
            XCTAssertEqual(plain.json["tokens"]?.arrayValue?.count, ids.count - 1)
            let d = Self.post(port, prefix + "/detokenize", ["tokens": .array(ids.dropFirst().map { .int($0) })])
            XCTAssertEqual(d.json["prompt"]?.stringValue, "Hello world")
            let info = Self.request(port, "GET", prefix + "/tokenizer_info")
            XCTAssertEqual(info.json["eos_token"]?.stringValue, "</s>")
            XCTAssertEqual(info.json["bos_token"]?.stringValue, "<s>")
            // tokenizer_config.json says "pad_token": null, and transformers reports None (not EOS).
            XCTAssertEqual(info.json["pad_token"], .null)
            XCTAssertEqual(info.json["pad_token_id"], .null)
        }
    }

    func testModelsHealthAndMetrics() throws {
        let models = Self.request(port, "GET", "/v1/models")
        XCTAssertEqual(models.json["data"]?[0]?["id"]?.stringValue, "demo")
        XCTAssertEqual(Self.request(port, "GET", "/health").status, 200)
        _ = Self.post(port, "/v1/completions", ["prompt": "Hi", "max_tokens": 3])
        let metrics = Self.request(port, "GET", "/metrics")
        XCTAssertEqual(metrics.status, 200)
        for name in ["polycom_requests_total{status=\"200\"}", "polycom_prompt_tokens_total", "polycom_generation_tokens_total",
                     "polycom_sequences_running", "polycom_sequences_waiting", "polycom_time_to_first_token_seconds_bucket",
                     "polycom_time_per_output_token_seconds_bucket", "polycom_kv_cache_bytes"] {
            XCTAssertTrue(metrics.text.contains(name), "metrics lack \(name)")
        }
        // The BLAS family, as the library itself names it (the test process loaded the same one).
        XCTAssertTrue(metrics.text.contains("polycom_blas_info{core=\"\(BLASCore.name)\"} 1\n"), metrics.text)
    }

    func testErrorStatusesWithEnvelope() throws {
        func completions(_ raw: String) -> Reply { Self.request(port, "POST", "/v1/completions", body: Data(raw.utf8)) }
        assertError(completions("{bad json"), 400, mentions: "invalid JSON")
        assertError(completions("[1,2]"), 400, mentions: "JSON object")
        assertError(completions(#"{"prompt": 5}"#), 400, mentions: "prompt")
        assertError(completions(#"{"prompt": "x", "max_tokens": -1}"#), 400, mentions: "max_tokens")
        assertError(completions(#"{"prompt": "x", "max_tokens": "ten"}"#), 400, mentions: "max_tokens")
        assertError(completions(#"{"prompt": "x", "logprobs": 21}"#), 400, mentions: "logprobs")
        assertError(completions(#"{"prompt": "x", "temperature": -1}"#), 400, mentions: "temperature")
        assertError(completions(#"{"prompt": "x", "top_p": 0}"#), 400, mentions: "top_p")
        assertError(completions(#"{"prompt": "x", "max_tokens": 99999999999999999999}"#), 400)
        assertError(completions(#"{"prompt": [1, 2, 40000]}"#), 400, mentions: "vocabulary")
        assertError(completions(#"{"prompt": [1, -2]}"#), 400)
        assertError(completions(#"{"prompt": []}"#), 400)
        let long = "[" + Array(repeating: "7", count: 600).joined(separator: ",") + "]"
        assertError(completions(#"{"prompt": \#(long)}"#), 400, mentions: "maximum context length")
        let full = "[" + Array(repeating: "7", count: 512).joined(separator: ",") + "]"
        assertError(completions(#"{"prompt": \#(full), "max_tokens": 1}"#), 400, mentions: "whole context")
        // A max_tokens past the context is cut at the context: 510 tokens, then "length".
        // 510 forward passes take over a minute under ThreadSanitizer on 2 busy cores: the
        // client waits for the answer (the 60 s default is only a guard against a hang).
        let capped = Self.request(port, "POST", "/v1/completions",
                                  body: Data(#"{"prompt": [1, 2], "max_tokens": 600, "ignore_eos": true}"#.utf8),
                                  timeout: 600)
        XCTAssertEqual(capped.json["usage"]?["completion_tokens"]?.intValue, 510, capped.text)
        XCTAssertEqual(capped.json["choices"]?[0]?["finish_reason"]?.stringValue, "length")
        assertError(completions(#"{"prompt": "x", "model": "gpt-4"}"#), 404, mentions: "gpt-4")
        assertError(Self.request(port, "GET", "/v1/nothing"), 404)
        assertError(Self.request(port, "GET", "/v1/completions"), 405)
        assertError(Self.request(port, "POST", "/v1/loglikelihood", body: Data(#"{"requests": [{"context": "a"}]}"#.utf8)), 400)
        XCTAssertEqual(completions(#"{"prompt": "x", "max_tokens": 1, "unknown_field": {"a": 1}, "model": null}"#).status, 200)
    }

    func testBodyTooLargeAndNonUTF8AndServerSurvives() throws {
        let big = Data(repeating: UInt8(ascii: "a"), count: 10 << 20)
        let r = Self.request(port, "POST", "/v1/completions", body: big)
        assertError(r, 413, mentions: "exceeds")
        var bytes = Data(#"{"prompt": ""#.utf8)
        bytes.append(contentsOf: [0xff, 0xfe, 0xc3])
        bytes.append(contentsOf: Data(#"", "max_tokens": 2}"#.utf8))
        let garbage = Self.request(port, "POST", "/v1/completions", body: bytes)
        XCTAssertEqual(garbage.status, 400, garbage.text)
        XCTAssertEqual(Self.request(port, "GET", "/health").status, 200)
    }

    func testAPIKeyLoadingAndDraining() throws {
        let (secured, port) = try Self.startService { $0.apiKey = "sekret" }
        assertError(Self.post(port, "/v1/completions", ["prompt": "x"]), 401)
        XCTAssertEqual(Self.post(port, "/v1/completions", ["prompt": "x", "max_tokens": 1],
                                 headers: ["Authorization": "Bearer sekret"]).status, 200)
        XCTAssertEqual(Self.request(port, "GET", "/health").status, 200)
        secured.drainAndStop(grace: 1)

        let (loading, port2) = try Self.startService(load: false)
        assertError(Self.request(port2, "GET", "/health"), 503, mentions: "loading")
        assertError(Self.post(port2, "/v1/completions", ["prompt": "x"]), 503)
        loading.drainAndStop(grace: 1)
    }

    func testQueueFullIs429() throws {
        let (busy, port) = try Self.startService {
            $0.engine.maxSequences = 1
            $0.engine.maxQueue = 1
        }
        defer { busy.drainAndStop(grace: 1) }
        let statuses = Shared<[Int]>([])
        let group = DispatchGroup()
        for _ in 0..<6 {
            group.enter()
            Thread.detachNewThread {
                let r = Self.post(port, "/v1/completions", ["prompt": "Once upon a time", "max_tokens": 60, "ignore_eos": true])
                statuses.update { $0.append(r.status) }
                if r.status == 429 { self.assertError(r, 429) }
                group.leave()
            }
        }
        group.wait()
        XCTAssertTrue(statuses.value.contains(429), "\(statuses.value)")
        XCTAssertTrue(statuses.value.contains(200), "\(statuses.value)")
    }

    /// A client that goes away, streaming or not, frees its sequence.
    func testDisconnectCancelsTheSequence() throws {
        for stream in [true, false] {
            var req = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/completions")!)
            req.httpMethod = "POST"
            req.httpBody = Data(#"{"prompt": "Once", "max_tokens": 500, "ignore_eos": true, "stream": \#(stream)}"#.utf8)
            let task = URLSession.shared.dataTask(with: req) { _, _, _ in }
            task.resume()
            Thread.sleep(forTimeInterval: 0.5)
            task.cancel()
            var running = -1
            for _ in 0..<100 {
                let m = Self.request(port, "GET", "/metrics").text
                if let line = m.split(separator: "\n").first(where: { $0.hasPrefix("polycom_sequences_running ") }) {
                    running = Int(line.split(separator: " ").last!)!
                }
                if running == 0 { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            XCTAssertEqual(running, 0, "stream: \(stream)")
        }
        XCTAssertTrue(Self.request(port, "GET", "/metrics").text.contains("polycom_sequences_finished_total{reason=\"abort\"} 2"))
    }

    /// An MoE model's router counts reach /metrics: a layer routes tokens × top-k, the last
    /// layer only the tokens whose logits are needed.
    func testMoERouterStatisticsInMetrics() throws {
        let dir = try copyOfFixture("olmoe-polynorm-e8k2") // 8 experts, top-2, 2 layers
        try FileManager.default.copyItem(atPath: Self.modelPath + "/tokenizer.json", toPath: dir + "/tokenizer.json")
        let (moe, port) = try Self.startService(model: dir)
        defer { moe.drainAndStop(grace: 1) }
        let r = Self.post(port, "/v1/completions", ["prompt": [5, 17, 42, 99, 7], "max_tokens": 3, "ignore_eos": true])
        XCTAssertEqual(r.status, 200, r.text)
        let metrics = Self.request(port, "GET", "/metrics").text
        for layer in 0..<2 {
            let counts = metrics.split(separator: "\n").filter { $0.hasPrefix("polycom_moe_expert_tokens_total{layer=\"\(layer)\",") }
                .map { Int($0.split(separator: " ").last!)! }
            XCTAssertEqual(counts.count, 8)
            // 5 prompt tokens + 2 decoded (the third sampled token is never run), top-2 each;
            // in the last layer the prompt's last token stands for all 5.
            XCTAssertEqual(counts.reduce(0, +), (layer == 1 ? 1 + 2 : 5 + 2) * 2, "layer \(layer)")
        }
    }

    /// generation_config.json's extra EOS (201) ends a completion where transformers' generate
    /// stops (reference/llama-generation-eos.json); with ignore_eos it runs to max_tokens.
    func testGenerationConfigEOSEndsCompletions() throws {
        let ref = try JSONValue.parse([UInt8](Data(contentsOf: URL(fileURLWithPath: fixturesDirectory + "/reference/llama-generation-eos.json"))))
        let prompt = try XCTUnwrap(ref["prompt"]?.arrayValue).map { $0.intValue! }
        let stopped = try XCTUnwrap(ref["generated"]?.arrayValue).map { $0.intValue! }
        let full = try XCTUnwrap(ref["generated_without_generation_config"]?.arrayValue).map { $0.intValue! }
        let dir = try copyOfFolder(fixtureFolder("llama-generation-eos"))
        try FileManager.default.copyItem(atPath: Self.modelPath + "/tokenizer.json", toPath: dir + "/tokenizer.json")
        let tokenizer = try Tokenizer(path: dir)
        let (service, port) = try Self.startService(model: dir)
        defer { service.drainAndStop(grace: 1) }
        for (ignoreEOS, expected, reason) in [(false, stopped, "stop"), (true, full, "length")] {
            let r = Self.post(port, "/v1/completions", ["prompt": .array(prompt.map { .int($0) }), "max_tokens": 12,
                                                        "temperature": 0, "ignore_eos": .bool(ignoreEOS)])
            XCTAssertEqual(r.status, 200, r.text)
            XCTAssertEqual(r.json["usage"]?["completion_tokens"]?.intValue, expected.count, "ignore_eos \(ignoreEOS)")
            XCTAssertEqual(r.json["choices"]?[0]?["finish_reason"]?.stringValue, reason)
            // The text is what an incremental decode of transformers' ids gives (most of these
            // ids are single bytes, so a decode of the ids alone would differ).
            var stream = tokenizer.streamingDecoder()
            for id in prompt { _ = stream.step(id) }
            let text = expected.compactMap { stream.step($0) }.joined() + (stream.finish() ?? "")
            XCTAssertEqual(r.json["choices"]?[0]?["text"]?.stringValue, text, "ignore_eos \(ignoreEOS)")
        }
    }
}
