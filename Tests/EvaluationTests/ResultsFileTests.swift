import Engine
@testable import Evaluation
import JSON
import XCTest

/// The field names users and scripts read.
final class ResultsFileTests: XCTestCase {
    func outcome(docs: Int) -> EvaluationOutcome {
        let d = Document(task: .sciq, docId: 4, query: "Q", choices: ["a", "b"], label: 1)
        let samples = (0..<docs).map { _ in
            Sample(document: d, results: [ScoredContinuation(logprob: -2, isGreedy: true, numTokens: 1),
                                          ScoredContinuation(logprob: -1.5, isGreedy: false, numTokens: 2)])
        }
        return EvaluationOutcome(scores: [(.sciq, TaskScores(samples.map(\.scores)))], samples: samples, interrupted: false,
                                 skipped: [.sciq: 1], computedTokens: nil, naiveTokens: 0)
    }

    func testResultsJSONFields() throws {
        let file = ResultsFile(outcome: outcome(docs: 2), config: ResultsFile.Config(
            model: "M", data: [(.sciq, "d.jsonl")], limit: 5, numFewshot: 0, fewshotSeed: 1234, fewshotData: [],
            maxLength: 512, addBOSToken: false))
        let json = file.json
        XCTAssertEqual(json.objectValue?.keys, ["results", "config"])
        XCTAssertEqual(json["results"]?["sciq"]?.objectValue?.keys, [
            "acc", "acc_stderr", "acc_norm", "acc_norm_stderr", "acc_per_token", "acc_per_token_stderr",
            "acc_per_byte", "acc_per_byte_stderr", "num_docs"])
        XCTAssertEqual(json["results"]?["sciq"]?["acc"], 1.0)
        XCTAssertEqual(json["results"]?["sciq"]?["acc_stderr"], 0.0)
        XCTAssertEqual(json["results"]?["sciq"]?["num_docs"], 2)
        let config = try XCTUnwrap(json["config"]?.objectValue)
        for key in ["model", "tasks", "data", "limit", "num_fewshot", "fewshot_seed", "max_length", "add_bos_token", "version"] {
            XCTAssertNotNil(config[key], key)
        }
        XCTAssertNil(config["interrupted"])
        XCTAssertEqual(config["skipped_docs"]?["sciq"], 1)
        XCTAssertTrue(file.table.contains("| sciq | 2    | 100.00 ± 0.00 |"), file.table)
    }

    func testOneDocumentHasNoStandardError() {
        let json = ResultsFile(outcome: outcome(docs: 1), config: ResultsFile.Config(
            model: "M", data: [], limit: nil, numFewshot: 0, fewshotSeed: 1, fewshotData: [], maxLength: 8, addBOSToken: false)).json
        XCTAssertEqual(json["results"]?["sciq"]?["acc_stderr"], .null)
    }

    func testSampleLineFieldsAndRoundTrip() throws {
        let s = outcome(docs: 1).samples[0]
        XCTAssertEqual(s.json.objectValue?.keys, ["doc_id", "task", "context", "choices", "label", "loglikelihoods", "is_greedy",
                                                  "num_tokens", "acc", "acc_norm", "acc_per_token", "acc_per_byte"])
        XCTAssertEqual(s.json["acc"], 1.0)
        XCTAssertEqual(s.json["acc_norm"], 1.0)
        XCTAssertEqual(s.json["loglikelihoods"], [-2.0, -1.5])
        XCTAssertEqual(try Sample(json: try JSONValue.parse(s.json.serialized())), s)
    }

    func testProgressLine() {
        let line = ProgressLine.render(EvaluationProgress(done: 30, total: 120, seconds: 10, tokens: 4500))
        XCTAssertEqual(line, "[######..................] 30/120 docs  3.0 docs/s  450 tok/s  ETA 0:30")
    }
}
