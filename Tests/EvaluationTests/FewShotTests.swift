@testable import Evaluation
import XCTest

final class FewShotTests: XCTestCase {
    func testExamplesPrecedeTheQuestionAndNeverIncludeIt() throws {
        let docs = try Demo.task(.arcEasy).documents
        let shots = FewShot(pool: docs, seed: 7, poolIsEvaluated: true)
        for d in docs.prefix(10) {
            let c = try shots.apply(3, to: d).context
            let parts = c.components(separatedBy: "\n\n")
            XCTAssertEqual(parts.count, 4, c)
            XCTAssertEqual(parts.last, d.query)
            for p in parts.dropLast() {
                let example = try XCTUnwrap(docs.first { p == $0.query + " " + $0.choices[$0.label] }, p)
                XCTAssertNotEqual(example.docId, d.docId)
            }
            XCTAssertEqual(Set(parts.dropLast()).count, 3, "distinct examples")
        }
    }

    /// A document's examples depend on the seed, its task and its id only: not on which
    /// other documents run (limit, resume, servers).
    func testTheDrawIsDeterministicPerDocument() throws {
        let docs = try Demo.task(.sciq).documents
        let a = FewShot(pool: docs, seed: 1, poolIsEvaluated: true), b = FewShot(pool: docs, seed: 1, poolIsEvaluated: true)
        let c = FewShot(pool: docs, seed: 2, poolIsEvaluated: true)
        XCTAssertEqual(try a.apply(2, to: docs[5]).context, try b.apply(2, to: docs[5]).context)
        XCTAssertEqual(try a.apply(2, to: docs[5]).context, try a.apply(2, to: docs[5]).context)
        XCTAssertNotEqual(try (0..<10).map { try a.apply(2, to: docs[$0]).context }, try (0..<10).map { try c.apply(2, to: docs[$0]).context })
    }

    func testTooFewExamplesIsAnError() throws {
        let docs = Array(try Demo.task(.arcEasy).documents.prefix(3))
        XCTAssertThrowsError(try FewShot(pool: docs, seed: 1, poolIsEvaluated: true).apply(3, to: docs[0])) {
            XCTAssertTrue("\($0)".contains("has 2 to draw from"), "\($0)")
        }
        // A training pool is another file: its documents may share ids with the asked one.
        XCTAssertNoThrow(try FewShot(pool: docs, seed: 1, poolIsEvaluated: false).apply(3, to: docs[0]))
    }

    func testFewShotRunScoresTheLongerContexts() throws {
        let tasks = [try Demo.task(.arcChallenge, limit: 3)]
        var settings = EvaluationSettings(maxLength: 512)
        settings.numFewshot = 2
        let pool = FewShot(pool: try Demo.task(.arcChallenge).documents, seed: 1234, poolIsEvaluated: true)
        let outcome = try Demo.evaluate(tasks, settings, pools: [.arcChallenge: pool])
        XCTAssertEqual(outcome.samples.count, 3)
        for s in outcome.samples { XCTAssertEqual(s.context.components(separatedBy: "\n\n").count, 3) }
    }
}
