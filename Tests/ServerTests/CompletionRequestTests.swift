import Foundation
import JSON
import Server
import TestSupport
import Tokenizer
import XCTest

/// Fields of a completion request that must take effect (logit_bias, best_of, the stop
/// fields) or be refused, through HTTP on the demo model.
final class CompletionRequestTests: DemoServerTestCase {
    func post(_ json: JSONValue) -> Reply { Self.post(Self.port, "/v1/completions", json) }
    func ids(_ list: [Int]) -> JSONValue { .array(list.map { .int($0) }) }
    func choice(_ r: Reply, _ i: Int = 0) -> JSONValue? { r.json["choices"]?[i] }
    /// The text `tokens` add after `prompt`.
    func text(_ tokens: [Int], after prompt: [Int]) -> String {
        let head = Self.tokenizer.decode(prompt).unicodeScalars, whole = Self.tokenizer.decode(prompt + tokens).unicodeScalars
        return String(String.UnicodeScalarView(whole.dropFirst(head.count)))
    }

    /// logit_bias -100 on transformers' greedy token makes the runner-up win; +100 forces a
    /// token at any temperature. The log-probs reported stay the model's own (vLLM's
    /// default, raw_logprobs).
    func testLogitBiasBansAndForcesTokens() throws {
        let ref = try reference("polynorm-demo")
        let prompt = try ref.tensor("prompt_0_ids").ints()
        let logits = try ref.tensor("prompt_0_logits").floats()
        let vocab = logits.count / prompt.count
        let last = logSoftmax(logits[((prompt.count - 1) * vocab)...])
        let ranked = last.indices.sorted { last[$0] > last[$1] }
        XCTAssertGreaterThan(last[ranked[1]] - last[ranked[2]], 1e-3, "runner-up too close to call")
        let banned = post(["prompt": ids(prompt), "max_tokens": 1, "temperature": 0, "logprobs": 0,
                           "logit_bias": .object(JSONObject([(String(ranked[0]), -100)]))])
        XCTAssertEqual(banned.status, 200, banned.text)
        XCTAssertEqual(choice(banned)?["text"]?.stringValue, text([ranked[1]], after: prompt))
        let lp = try XCTUnwrap(choice(banned)?["logprobs"]?["token_logprobs"]?[0]?.doubleValue)
        XCTAssertEqual(lp, last[ranked[1]], accuracy: 1e-3)

        let forced = 4843 // "▁France"
        let r = post(["prompt": ids(prompt), "max_tokens": 5, "temperature": 1.0, "seed": 3, "ignore_eos": true,
                      "logit_bias": ["4843": 100, "13": -5.5]])
        XCTAssertEqual(choice(r)?["text"]?.stringValue, text(Array(repeating: forced, count: 5), after: prompt))

        for bad: JSONValue in [["x1": 5], ["-1": 5], ["32000": 5], ["5": 101], ["5": "high"], [1, 2]] {
            assertError(post(["prompt": "x", "logit_bias": bad]), 400, mentions: "logit_bias")
        }
    }

    /// best_of k returns the n of k sampled sequences with the highest cumulative log-prob:
    /// the same as sampling the k seeds one by one and ranking them here.
    func testBestOfReturnsTheMostLikelySequences() throws {
        let base: JSONObject = (["prompt": "Once upon a time", "max_tokens": 8, "temperature": 1.0, "ignore_eos": true] as JSONValue).objectValue!
        func with(_ extra: [(String, JSONValue)]) -> JSONValue {
            var o = base
            for (k, v) in extra { o[k] = v }
            return .object(o)
        }
        let singles = try (0..<4).map { k -> (text: String, score: Double) in
            let r = post(with([("seed", .int(11 + k)), ("logprobs", 0)]))
            let lps = try XCTUnwrap(choice(r)?["logprobs"]?["token_logprobs"]?.arrayValue).map { $0.doubleValue! }
            return (choice(r)!["text"]!.stringValue!, lps.reduce(0, +))
        }
        let ranked = singles.sorted { $0.score > $1.score }
        XCTAssertGreaterThan(ranked[0].score - ranked[1].score, 1e-6)
        let one = post(with([("seed", 11), ("best_of", 4)]))
        XCTAssertEqual(one.status, 200, one.text)
        XCTAssertEqual(one.json["choices"]?.arrayValue?.count, 1)
        XCTAssertEqual(choice(one)?["text"]?.stringValue, ranked[0].text)
        XCTAssertEqual(choice(one)?["logprobs"], .null, "log-probs were not asked for")
        XCTAssertEqual(one.json["usage"]?["completion_tokens"]?.intValue, 32, "usage counts all four sequences")
        let two = post(with([("seed", 11), ("best_of", 4), ("n", 2), ("logprobs", 0)]))
        XCTAssertEqual(two.json["choices"]?.arrayValue?.map { $0["index"]?.intValue }, [0, 1])
        XCTAssertEqual(two.json["choices"]?.arrayValue?.map { $0["text"]?.stringValue }, [ranked[0].text, ranked[1].text])

        assertError(post(with([("n", 2), ("best_of", 1)])), 400, mentions: "best_of")
        assertError(post(with([("best_of", 2), ("stream", true)])), 400, mentions: "streamed")
        assertError(post(with([("best_of", 65)])), 400, mentions: "best_of")
    }

    /// stop_reason is the stop token id for stop_token_ids and null for EOS (which vLLM
    /// checks first); skip_special_tokens leaves EOS out of the text.
    func testStopReasonForTokensAndEOS() throws {
        let ref = try reference("polynorm-demo")
        let prompt = try ref.tensor("prompt_1_ids").ints(), greedy = try ref.tensor("greedy_1").ints()
        let stopped = post(["prompt": ids(prompt), "max_tokens": 16, "temperature": 0, "ignore_eos": true,
                            "stop_token_ids": [.int(greedy[2])]])
        XCTAssertEqual(choice(stopped)?["finish_reason"]?.stringValue, "stop")
        XCTAssertEqual(choice(stopped)?["stop_reason"]?.intValue, greedy[2])
        // logit_bias forces EOS (id 2) as the first token.
        let eos: JSONValue = ["2": 100]
        let ended = post(["prompt": ids(prompt), "max_tokens": 4, "logit_bias": eos, "stop_token_ids": [2], "skip_special_tokens": true])
        XCTAssertEqual(choice(ended)?["finish_reason"]?.stringValue, "stop")
        XCTAssertEqual(choice(ended)?["stop_reason"], .null)
        XCTAssertEqual(choice(ended)?["text"]?.stringValue, "")
        XCTAssertEqual(ended.json["usage"]?["completion_tokens"]?.intValue, 1)
        let shown = post(["prompt": ids(prompt), "max_tokens": 4, "logit_bias": eos])
        XCTAssertEqual(choice(shown)?["text"]?.stringValue, "</s>")
        let asStopToken = post(["prompt": ids(prompt), "max_tokens": 4, "logit_bias": eos, "ignore_eos": true, "stop_token_ids": [2]])
        XCTAssertEqual(choice(asStopToken)?["stop_reason"]?.intValue, 2)
    }

    /// Fields of OpenAI's or vLLM's schema that this server does not implement are refused
    /// unless they say "off"; add_special_tokens takes effect; unknown fields are ignored.
    func testUnimplementedFieldsAreRefusedNotIgnored() throws {
        for (name, value) in [("suffix", "x"), ("min_tokens", 3), ("use_beam_search", true), ("response_format", ["type": "json_object"]),
                              ("prompt_logprobs", 1), ("allowed_token_ids", [1, 2])] as [(String, JSONValue)] {
            assertError(post(["prompt": "x", "max_tokens": 1, .init(stringLiteral: name): value]), 400, mentions: name)
        }
        for (name, value) in [("min_tokens", 0), ("length_penalty", 1.0), ("use_beam_search", false), ("user", "u-1"),
                              ("suffix", "")] as [(String, JSONValue)] {
            XCTAssertEqual(post(["prompt": "x", "max_tokens": 1, .init(stringLiteral: name): value]).status, 200, name)
        }
        let with = post(["prompt": "Hello world", "max_tokens": 1])
        let without = post(["prompt": "Hello world", "max_tokens": 1, "add_special_tokens": false])
        XCTAssertEqual(with.json["usage"]?["prompt_tokens"]?.intValue, Self.tokenizer.encode("Hello world").count)
        XCTAssertEqual(without.json["usage"]?["prompt_tokens"]?.intValue, Self.tokenizer.encode("Hello world", addSpecialTokens: false).count)
    }
}
