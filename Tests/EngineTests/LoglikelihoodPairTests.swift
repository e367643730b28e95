import Engine
import Foundation
import JSON
import TestSupport
import Tokenizer
import XCTest

/// The pair rule against lm-evaluation-harness's own code (`TemplateAPI.loglikelihood`,
/// `_encode_pair`, `batch_loglikelihood_requests`) run with the Hugging Face tokenizer of the
/// demo model, as recorded by tools/reference/make_eval_reference.py.
final class LoglikelihoodPairTests: XCTestCase {
    static let tokenizer = try! Tokenizer(path: repositoryRoot + "/Models/polynorm-demo")

    func rule(bos: Bool, maxLength: Int = 4096, truncate: Bool = true) -> LoglikelihoodPairRule {
        LoglikelihoodPairRule(tokenizer: Self.tokenizer, addSpecialTokens: bos, maxLength: maxLength, truncate: truncate)
    }

    func testTextPairsTokenizeAsLMEval() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturesDirectory + "/eval/lm-eval-reference.json"))
        let cases = try XCTUnwrap(try JSONValue.parse([UInt8](data))["pairs"]?.arrayValue)
        XCTAssertEqual(cases.count, 16)
        let ints = { (v: JSONValue?) in (v?.arrayValue ?? []).compactMap(\.intValue) }
        for (i, c) in cases.enumerated() {
            let context = c["context"]!.stringValue!, continuation = c["continuation"]!.stringValue!
            let bos = c["add_bos_token"]!.boolValue!
            let what = "\(context.debugDescription) + \(continuation.debugDescription), bos \(bos)"
            let p = try rule(bos: bos).pair(context: context, continuation: continuation, index: i)
            XCTAssertEqual(p.context, ints(c["context_tokens"]), what)
            XCTAssertEqual(p.continuation, ints(c["continuation_tokens"]), what)
            let limit = c["truncated_max_length"]!.intValue!
            let cut = try rule(bos: bos, maxLength: limit).pair(context: context, continuation: continuation, index: i)
            XCTAssertEqual(cut.context, ints(c["truncated_context_tokens"]), what)
            XCTAssertEqual(cut.continuation, p.continuation, what)
        }
    }

    func testUnscorablePairsNameTheirIndex() {
        XCTAssertThrowsError(try rule(bos: false).pair(context: "abc", continuation: "", index: 3)) {
            XCTAssertEqual($0 as? LoglikelihoodError, .emptyContinuation(index: 3))
        }
        // Without truncation a long pair is refused; with it, a continuation that alone
        // fills the window still is.
        let long = String(repeating: "word ", count: 20)
        XCTAssertThrowsError(try rule(bos: false, maxLength: 8, truncate: false).pair(context: long, continuation: " end", index: 1)) {
            guard case .tooLong(1, _, 8) = $0 as? LoglikelihoodError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try rule(bos: false, maxLength: 8).pair(context: "a", continuation: long, index: 2)) {
            guard case .tooLong(2, _, 8) = $0 as? LoglikelihoodError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try rule(bos: false).pair(context: [1, -4], continuation: [5], index: 0)) {
            XCTAssertEqual($0 as? LoglikelihoodError, .invalidToken(index: 0, token: -4))
        }
    }

    func testTokenPairsKeepTheirIdsAndAnEmptyContextBecomesBOS() throws {
        let r = rule(bos: false)
        XCTAssertEqual(try r.pair(context: [5, 6], continuation: [7], index: 0), ScoringPair(context: [5, 6], continuation: [7]))
        XCTAssertEqual(try r.pair(context: [], continuation: [7, 8], index: 0), ScoringPair(context: [1], continuation: [7, 8]))
    }
}
