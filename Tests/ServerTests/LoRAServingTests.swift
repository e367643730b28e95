import Foundation
import JSON
import Server
import TestSupport
import XCTest

/// `polycom serve --lora DIR`: the adapter is merged at load, and the served model scores
/// as PEFT scores the base with that adapter (tools/reference/make_lora_checkpoint_reference.py).
final class LoRAServingTests: ServerTestCase {
    func testServedAdapterGivesPEFTLogprobs() throws {
        let (service, port) = try Self.startService { $0.lora = fixturesDirectory + "/adapters/polynorm-demo-trained" }
        defer { service.drainAndStop(grace: 0) }
        let ref = try reference("lora-trained-polynorm-demo")
        let prompt = try ref.tensor("tokens").ints(), logits = try ref.tensor("logits").floats()
        let vocab = logits.count / prompt.count
        let r = Self.post(port, "/v1/completions", ["prompt": .array(prompt.map { .int($0) }), "max_tokens": 0, "echo": true, "logprobs": 1])
        XCTAssertEqual(r.status, 200, r.text)
        let got = try XCTUnwrap(r.json["choices"]?[0]?["logprobs"]?["token_logprobs"]?.arrayValue)
        for i in 1..<prompt.count {
            let expected = logSoftmax(logits[((i - 1) * vocab)..<(i * vocab)])
            XCTAssertEqual(try XCTUnwrap(got[i].doubleValue), expected[prompt[i]], accuracy: 1e-3, "position \(i)")
        }
    }

    func testABadAdapterFailsTheLoadWithItsPath() throws {
        let (service, _) = try Self.startService(load: false) { $0.lora = "/nonexistent/adapter" }
        defer { service.drainAndStop(grace: 0) }
        XCTAssertThrowsError(try service.load()) { XCTAssertTrue("\($0)".contains("/nonexistent/adapter"), "\($0)") }
    }
}
