import Foundation
import JSON
import Server
import TestSupport
import Tokenizer
import XCTest

/// The text of a choice over HTTP: top_logprobs keys decoded in context (the demo model has
/// a SentencePiece tokenizer), stop strings reported and optionally kept.
final class ChoiceTextTests: DemoServerTestCase {
    func post(_ json: JSONValue) -> Reply { Self.post(Self.port, "/v1/completions", json) }
    func ids(_ list: [Int]) -> JSONValue { .array(list.map { .int($0) }) }

    /// What `token` adds after `prefix`, from whole-text decodes (not the server's
    /// streaming decoder); nil when it adds nothing whole (part of a character).
    func piece(after prefix: [Int], _ token: Int) -> String? {
        let head = Self.tokenizer.decode(prefix).unicodeScalars, whole = Self.tokenizer.decode(prefix + [token]).unicodeScalars
        guard whole.count > head.count, whole.starts(with: head), whole.last != "\u{FFFD}" else { return nil }
        return String(String.UnicodeScalarView(whole.dropFirst(head.count)))
    }

    /// Echoed prompts with logprobs 20: every position has 20 entries (21 when the prompt's
    /// own token is not among the best 20), each alternative keyed by the text it would add
    /// in context (" the", not "the") with the log-prob of transformers' logits.
    func testTopLogprobsKeysAreDecodedInContextOnePerToken() throws {
        let ref = try reference("polynorm-demo")
        var leadingSpaceKeys = 0
        for p in 0..<2 {
            let prompt = try ref.tensor("prompt_\(p)_ids").ints()
            let logits = try ref.tensor("prompt_\(p)_logits").floats()
            let vocab = logits.count / prompt.count
            let r = post(["prompt": ids(prompt), "max_tokens": 0, "echo": true, "logprobs": 20])
            XCTAssertEqual(r.status, 200, r.text)
            let lp = try XCTUnwrap(r.json["choices"]?[0]?["logprobs"])
            let tokens = try XCTUnwrap(lp["tokens"]?.arrayValue).map { $0.stringValue! }
            let top = try XCTUnwrap(lp["top_logprobs"]?.arrayValue)
            for i in 1..<prompt.count {
                let row = logits[((i - 1) * vocab)..<(i * vocab)]
                let expected = logSoftmax(row)
                let ranked = expected.indices.sorted { expected[$0] > expected[$1] }
                let entries = try XCTUnwrap(top[i].objectValue)
                let chosenInTop = ranked.prefix(20).contains(prompt[i])
                XCTAssertEqual(entries.entries.count, chosenInTop ? 20 : 21, "prompt \(p) position \(i)")
                let prefix = Array(prompt[..<i])
                XCTAssertEqual(tokens[i], piece(after: prefix, prompt[i]) ?? "")
                var used: Set<String> = [tokens[i]]
                // Tokens clearly inside the best 20 (away from the cut, where float noise
                // could swap ranks 20 and 21).
                for t in ranked.prefix(20) where t != prompt[i] && expected[t] - expected[ranked[20]] > 1e-2 {
                    var key = piece(after: prefix, t) ?? ""
                    if key.isEmpty || used.contains(key) { key = Self.tokenizer.idToToken(t)! }
                    used.insert(key)
                    let got = try XCTUnwrap(entries[key]?.doubleValue, "prompt \(p) position \(i): no key \(key.debugDescription) for token \(t) in \(entries.keys)")
                    XCTAssertEqual(got, expected[t], accuracy: 1e-3)
                    if key.hasPrefix(" ") { leadingSpaceKeys += 1 }
                }
            }
        }
        XCTAssertGreaterThan(leadingSpaceKeys, 50, "SentencePiece '▁' alternatives keep their space")
    }

    /// Generated tokens' alternatives get the keys (and values) the echo of the same tokens
    /// gets, which the test above checks against the reference.
    func testGeneratedAlternativesMatchTheEchoOfTheSameTokens() throws {
        let ref = try reference("polynorm-demo")
        let prompt = try ref.tensor("prompt_1_ids").ints(), greedy = try ref.tensor("greedy_1").ints()
        let generated = post(["prompt": ids(prompt), "max_tokens": .int(greedy.count), "temperature": 0, "logprobs": 20,
                              "ignore_eos": true])
        let echo = post(["prompt": ids(prompt + greedy), "max_tokens": 0, "echo": true, "logprobs": 20])
        XCTAssertEqual(generated.status, 200, generated.text)
        let a = try XCTUnwrap(generated.json["choices"]?[0]?["logprobs"]?["top_logprobs"]?.arrayValue)
        let b = try XCTUnwrap(echo.json["choices"]?[0]?["logprobs"]?["top_logprobs"]?.arrayValue).suffix(greedy.count)
        XCTAssertEqual(a.count, greedy.count)
        for (j, (x, y)) in zip(a, b).enumerated() {
            let gx = try XCTUnwrap(x.objectValue), gy = try XCTUnwrap(y.objectValue)
            XCTAssertTrue([20, 21].contains(gx.entries.count), "token \(j): \(gx.entries.count) entries")
            XCTAssertEqual(Set(gx.keys), Set(gy.keys), "token \(j)")
            for (key, value) in gx.entries {
                XCTAssertEqual(value.doubleValue ?? .nan, gy[key]?.doubleValue ?? .nan, accuracy: 1e-4, "token \(j) \(key)")
            }
        }
    }

    /// vLLM's stop_reason: the stop string that matched (plain and streamed), null at the
    /// length limit; include_stop_str_in_output keeps the string.
    func testStopReasonNamesTheStopString() throws {
        // The reference greedy text: " the cell in the cell and the cell. The cell is ...".
        let prompt: JSONValue = ["prompt": "The capital of France is", "max_tokens": 16, "temperature": 0, "ignore_eos": true]
        var o = prompt.objectValue!
        o["stop"] = ["never", " and"]
        let plain = post(.object(o))
        XCTAssertEqual(plain.json["choices"]?[0]?["text"]?.stringValue, " the cell in the cell")
        XCTAssertEqual(plain.json["choices"]?[0]?["finish_reason"]?.stringValue, "stop")
        XCTAssertEqual(plain.json["choices"]?[0]?["stop_reason"]?.stringValue, " and")
        o["include_stop_str_in_output"] = true
        XCTAssertEqual(post(.object(o)).json["choices"]?[0]?["text"]?.stringValue, " the cell in the cell and")
        o["include_stop_str_in_output"] = nil
        o["stream"] = true
        let streamed = post(.object(o))
        let last = try XCTUnwrap(streamed.text.components(separatedBy: "\n\n").last { $0.contains("\"finish_reason\":\"stop\"") })
        XCTAssertEqual(try JSONValue.parse(String(last.dropFirst(6)))["choices"]?[0]?["stop_reason"]?.stringValue, " and")
        let length = post(prompt)
        XCTAssertEqual(length.json["choices"]?[0]?["finish_reason"]?.stringValue, "length")
        XCTAssertEqual(length.json["choices"]?[0]?["stop_reason"], .null)
    }
}
