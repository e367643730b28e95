import Checkpoint
import Foundation
import JSON
import Server
import TestSupport
import Tokenizer
import XCTest

/// /v1/completions against the demo model and its PyTorch reference.
final class CompletionsTests: DemoServerTestCase {
    var port: UInt16 { Self.port }
    func post(_ json: JSONValue) -> Reply { Self.post(port, "/v1/completions", json) }
    func ids(_ name: String) throws -> [Int] { try reference("polynorm-demo").tensor(name).ints() }

    /// Echoed prompt log-probs equal log-softmax of transformers' logits for the same ids.
    func testEchoLogprobsMatchReference() throws {
        let ref = try reference("polynorm-demo")
        for p in 0..<2 {
            let prompt = try ref.tensor("prompt_\(p)_ids").ints()
            let logits = try ref.tensor("prompt_\(p)_logits").floats()
            let vocab = logits.count / prompt.count
            let r = post(["prompt": .array(prompt.map { .int($0) }), "max_tokens": 0, "echo": true, "logprobs": 1])
            XCTAssertEqual(r.status, 200, r.text)
            let lp = r.json["choices"]?[0]?["logprobs"]
            let tokenLogprobs = try XCTUnwrap(lp?["token_logprobs"]?.arrayValue)
            let top = try XCTUnwrap(lp?["top_logprobs"]?.arrayValue)
            XCTAssertEqual(tokenLogprobs.count, prompt.count)
            XCTAssertEqual(lp?["tokens"]?.arrayValue?.count, prompt.count)
            XCTAssertEqual(lp?["text_offset"]?.arrayValue?.count, prompt.count)
            XCTAssertEqual(tokenLogprobs[0], .null)
            XCTAssertEqual(top[0], .null)
            for i in 1..<prompt.count {
                let expected = logSoftmax(logits[((i - 1) * vocab)..<(i * vocab)])
                let got = try XCTUnwrap(tokenLogprobs[i].doubleValue)
                XCTAssertEqual(got, expected[prompt[i]], accuracy: 1e-3, "prompt \(p) position \(i)")
                // The greedy token's entry is the very same float when it was chosen.
                let values = try XCTUnwrap(top[i].objectValue).entries.map { $0.value.doubleValue! }
                if expected.indices.max(by: { expected[$0] < expected[$1] }) == prompt[i] {
                    XCTAssertEqual(values.max(), got)
                }
            }
        }
    }

    /// A text prompt is tokenized like HF (BOS + ids) and greedy decoding gives the
    /// reference continuation; the text is the decode of those ids after the prompt.
    func testTextPromptGreedyMatchesReference() throws {
        let json = try JSONValue.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: fixturesDirectory + "/reference/polynorm-demo.json"))))
        let ref = try reference("polynorm-demo")
        for p in 0..<2 {
            let text = try XCTUnwrap(json["prompts"]?[p]?["prompt"]?.stringValue)
            let promptIds = try ref.tensor("prompt_\(p)_ids").ints()
            let greedy = try ref.tensor("greedy_\(p)").ints()
            let r = post(["prompt": .string(text), "max_tokens": .int(greedy.count), "temperature": 0, "ignore_eos": true])
            XCTAssertEqual(r.status, 200, r.text)
            XCTAssertEqual(r.json["usage"]?["prompt_tokens"]?.intValue, promptIds.count)
            XCTAssertEqual(r.json["usage"]?["completion_tokens"]?.intValue, greedy.count)
            let whole = Self.tokenizer.decode(promptIds + greedy), head = Self.tokenizer.decode(promptIds)
            XCTAssertTrue(whole.hasPrefix(head))
            XCTAssertEqual(r.json["choices"]?[0]?["text"]?.stringValue, String(whole.dropFirst(head.count)))
            XCTAssertEqual(r.json["choices"]?[0]?["finish_reason"]?.stringValue, "length")
            XCTAssertEqual(r.json["object"]?.stringValue, "text_completion")
            XCTAssertEqual(r.json["model"]?.stringValue, "demo")
        }
    }

    /// A ragged batch of four prompts gives what the prompts give one by one.
    func testRaggedBatchEqualsSingleRequests() throws {
        let base = try ids("prompt_1_ids")
        let prompts = [Array(base.prefix(3)), base, Array(base.prefix(6)), [1, 450, 4996]]
        func request(_ prompt: JSONValue) -> JSONValue {
            ["prompt": prompt, "max_tokens": 6, "temperature": 0, "logprobs": 2, "ignore_eos": true]
        }
        let batch = post(request(.array(prompts.map { .array($0.map { .int($0) }) })))
        XCTAssertEqual(batch.status, 200, batch.text)
        let choices = try XCTUnwrap(batch.json["choices"]?.arrayValue)
        XCTAssertEqual(choices.map { $0["index"]?.intValue }, [0, 1, 2, 3])
        for (i, prompt) in prompts.enumerated() {
            let single = post(request(.array(prompt.map { .int($0) })))
            let one = try XCTUnwrap(single.json["choices"]?[0])
            XCTAssertEqual(choices[i]["text"], one["text"], "prompt \(i)")
            let a = try XCTUnwrap(choices[i]["logprobs"]?["token_logprobs"]?.arrayValue).map { $0.doubleValue! }
            let b = try XCTUnwrap(one["logprobs"]?["token_logprobs"]?.arrayValue).map { $0.doubleValue! }
            XCTAssertEqual(a.count, b.count)
            for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-5) }
        }
        XCTAssertEqual(batch.json["usage"]?["prompt_tokens"]?.intValue, prompts.reduce(0) { $0 + $1.count })
    }

    /// SSE frames reassemble to the non-streamed text; usage comes last, then [DONE].
    func testStreamingReassemblesToTheSameText() throws {
        let request: JSONValue = ["prompt": "The capital of France is", "max_tokens": 12, "temperature": 0, "ignore_eos": true]
        let plain = post(request)
        var streamed = request.objectValue!
        streamed["stream"] = true
        streamed["stream_options"] = ["include_usage": true]
        let r = post(.object(streamed))
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.headers["content-type"]?.hasPrefix("text/event-stream") ?? false, "\(r.headers)")
        let frames = r.text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        XCTAssertEqual(frames.last, "data: [DONE]")
        var text = "", finish: String?, usage: JSONValue?
        for frame in frames.dropLast() {
            XCTAssertTrue(frame.hasPrefix("data: "), frame)
            let json = try JSONValue.parse(String(frame.dropFirst(6)))
            if let u = json["usage"], !u.isNull { usage = u }
            for c in json["choices"]?.arrayValue ?? [] {
                text += c["text"]?.stringValue ?? ""
                if let f = c["finish_reason"]?.stringValue { finish = f }
            }
        }
        XCTAssertEqual(text, plain.json["choices"]?[0]?["text"]?.stringValue)
        XCTAssertEqual(finish, "length")
        XCTAssertEqual(usage?["completion_tokens"]?.intValue, 12)
    }

    /// Streamed echo: the first frame carries the prompt and its log-probs, equal to the
    /// non-streamed ones.
    func testStreamedEchoCarriesPromptLogprobs() throws {
        let prompt = try ids("prompt_1_ids")
        let base: JSONValue = ["prompt": .array(prompt.map { .int($0) }), "max_tokens": 2, "echo": true, "logprobs": 1,
                               "temperature": 0]
        var request = base.objectValue!
        let plain = post(.object(request))
        request["stream"] = true
        let r = post(.object(request))
        let first = try XCTUnwrap(r.text.components(separatedBy: "\n\n").first { $0.hasPrefix("data: {") })
        let json = try JSONValue.parse(String(first.dropFirst(6)))
        let streamed = try XCTUnwrap(json["choices"]?[0]?["logprobs"]?["token_logprobs"]?.arrayValue)
        let whole = try XCTUnwrap(plain.json["choices"]?[0]?["logprobs"]?["token_logprobs"]?.arrayValue)
        XCTAssertEqual(streamed.count, prompt.count)
        XCTAssertEqual(streamed, Array(whole.prefix(prompt.count)))
        XCTAssertEqual(json["choices"]?[0]?["text"]?.stringValue, Self.tokenizer.decode(prompt))
    }

    /// The sampling fields reach the sampler: top_k 1 and min_p 1 are greedy at any
    /// temperature, a repetition penalty changes a repetitive continuation, stop_token_ids
    /// end it, and choices are numbered prompt × n + k.
    func testSamplingFieldsReachTheSampler() throws {
        func text(_ extra: JSONObject) -> String? {
            var o = (["prompt": "A man is sitting on a roof. He", "max_tokens": 12, "ignore_eos": true, "seed": 3] as JSONValue).objectValue!
            for (k, v) in extra.entries { o[k] = v }
            return post(.object(o)).json["choices"]?[0]?["text"]?.stringValue
        }
        let greedy = text(JSONObject([("temperature", 0)]))
        XCTAssertNotNil(greedy)
        XCTAssertEqual(text(JSONObject([("temperature", 1.5), ("top_k", 1)])), greedy)
        XCTAssertEqual(text(JSONObject([("temperature", 1.5), ("min_p", 1.0)])), greedy)
        XCTAssertNotEqual(text(JSONObject([("temperature", 0), ("repetition_penalty", 3.0)])), greedy)
        XCTAssertNotEqual(text(JSONObject([("temperature", 0), ("frequency_penalty", 2.0)])), greedy)

        let ids = try ids("greedy_1")
        let stopped = post(["prompt": .array(try self.ids("prompt_1_ids").map { .int($0) }), "max_tokens": 16,
                            "temperature": 0, "ignore_eos": true, "stop_token_ids": [.int(ids[2])]])
        XCTAssertEqual(stopped.json["usage"]?["completion_tokens"]?.intValue, ids.firstIndex(of: ids[2])! + 1)
        XCTAssertEqual(stopped.json["choices"]?[0]?["finish_reason"]?.stringValue, "stop")

        let numbered = post(["prompt": ["Once", "Hello there"], "n": 2, "max_tokens": 2, "seed": 1])
        XCTAssertEqual(numbered.json["choices"]?.arrayValue?.map { $0["index"]?.intValue }, [0, 1, 2, 3])
    }

    func testSeededSamplingIsReproducible() throws {
        let request: JSONValue = ["prompt": "Once upon a time", "max_tokens": 10, "temperature": 1.0, "top_p": 0.9,
                                  "seed": 7, "n": 2, "ignore_eos": true]
        let a = post(request), b = post(request)
        XCTAssertEqual(a.status, 200, a.text)
        let textsA = a.json["choices"]?.arrayValue?.map { $0["text"] }, textsB = b.json["choices"]?.arrayValue?.map { $0["text"] }
        XCTAssertEqual(textsA, textsB)
        XCTAssertEqual(textsA?.count, 2)
        XCTAssertEqual(a.json["choices"]?.arrayValue?.map { $0["index"]?.intValue }, [0, 1])
    }

    /// A stop string made of the end of one token and the start of the next.
    func testStopStringAcrossTokenBoundary() throws {
        let request: JSONValue = ["prompt": "The capital of France is", "max_tokens": 16, "temperature": 0, "logprobs": 0, "ignore_eos": true]
        let plain = post(request)
        let pieces = try XCTUnwrap(plain.json["choices"]?[0]?["logprobs"]?["tokens"]?.arrayValue).map { $0.stringValue! }
        let full = pieces.joined()
        // The first boundary with a non-empty piece on both sides.
        guard let k = (1..<pieces.count).first(where: { !pieces[$0 - 1].isEmpty && !pieces[$0].isEmpty && $0 >= 2 }) else {
            throw XCTSkip("continuation too short")
        }
        let stop = String(pieces[k - 1].unicodeScalars.suffix(1)) + String(pieces[k].unicodeScalars.prefix(1))
        let expected = String(full[..<full.range(of: stop)!.lowerBound])
        for stream in [false, true] {
            var o = request.objectValue!
            o["stop"] = [.string(stop), "\u{1F600}never"]
            o["stream"] = .bool(stream)
            let r = post(.object(o))
            XCTAssertEqual(r.status, 200, r.text)
            var text = "", finish: String?
            if stream {
                for frame in r.text.components(separatedBy: "\n\n") where frame.hasPrefix("data: {") {
                    let json = try JSONValue.parse(String(frame.dropFirst(6)))
                    for c in json["choices"]?.arrayValue ?? [] {
                        text += c["text"]?.stringValue ?? ""
                        if let f = c["finish_reason"]?.stringValue { finish = f }
                    }
                }
            } else {
                text = r.json["choices"]?[0]?["text"]?.stringValue ?? ""
                finish = r.json["choices"]?[0]?["finish_reason"]?.stringValue
            }
            XCTAssertEqual(text, expected, "stream: \(stream), stop \(stop.debugDescription)")
            XCTAssertEqual(finish, "stop")
        }
    }
}
