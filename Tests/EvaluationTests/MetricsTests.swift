import Engine
@testable import Evaluation
import XCTest

final class MetricsTests: XCTestCase {
    func scored(_ lls: [Double], tokens: [Int]) -> [ScoredContinuation] {
        zip(lls, tokens).map { ScoredContinuation(logprob: $0, isGreedy: false, numTokens: $1) }
    }

    /// Each normalisation picks its own winner: lengths in code points without the
    /// delimiter (acc_norm), tokens, UTF-8 bytes with the delimiter (acc_per_byte).
    func testEachNormalisationHasItsOwnDivisor() {
        // "é" + combining accent: 2 code points, 1 grapheme, 3 UTF-8 bytes (4 with the space).
        let doc = Document(task: .arcEasy, docId: 0, query: "Q", choices: ["e\u{301}", "abcd"], label: 1)
        let cases: [([Double], [Int], DocumentScores)] = [
            ([-5, -6], [1, 2], DocumentScores(acc: 0, accNorm: 1, accPerToken: 1, accPerByte: 1)),
            ([-2, -9], [1, 9], DocumentScores(acc: 0, accNorm: 0, accPerToken: 1, accPerByte: 0)),
            // -3/2 > -7/4 by code points; by graphemes (-3/1) choice 1 would win.
            ([-3, -7], [1, 1], DocumentScores(acc: 0, accNorm: 0, accPerToken: 0, accPerByte: 0)),
            // Bytes with the delimiter: -4/4 > -5.2/5; without it (-4/3 < -5.2/4) choice 1 would win.
            ([-4, -5.2], [1, 1], DocumentScores(acc: 0, accNorm: 1, accPerToken: 0, accPerByte: 0)),
        ]
        for (lls, tokens, expected) in cases {
            XCTAssertEqual(DocumentScores(document: doc, results: scored(lls, tokens: tokens)), expected, "\(lls) \(tokens)")
        }
    }

    func testTiesGoToTheFirstChoiceAsInNumpy() {
        XCTAssertEqual(Metrics.argmax([-1, -1, -2]), 0)
        XCTAssertEqual(Metrics.argmax([-3, -1, -1]), 1)
        XCTAssertEqual(Metrics.argmax([.nan, -1]), 1)
    }

    /// lm-eval's closed form: sample standard deviation (n − 1) over √n.
    func testStandardErrors() {
        let s = TaskScores([1, 0, 1, 1].map { DocumentScores(acc: $0, accNorm: 1, accPerToken: 0, accPerByte: $0) })
        XCTAssertEqual(s["acc"]!.mean, 0.75)
        XCTAssertEqual(s["acc"]!.stderr!, 0.25, accuracy: 1e-15)  // variance (3·1/16 + 9/16)/3 = 1/4, sd 1/2, /√4
        XCTAssertEqual(s["acc_norm"]!.stderr, 0)
        XCTAssertEqual(s.numDocs, 4)
        XCTAssertNil(TaskScores([DocumentScores(acc: 1, accNorm: 1, accPerToken: 1, accPerByte: 1)])["acc"]!.stderr)
    }
}
