import Engine
@testable import Evaluation
import Foundation
import JSON
import TestSupport
import XCTest

final class EvaluatorTests: XCTestCase {
    /// The acceptance test: lm-evaluation-harness 0.4.13 through `polycom serve` on the
    /// committed subsets (tools/reference/make_eval_reference.py) against an in-process run.
    func testMatchesLMEvaluationHarness() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Demo.data + "/lm-eval-reference.json"))
        let ref = try JSONValue.parse([UInt8](data))
        let maxLength = try XCTUnwrap(ref["max_length"]?.intValue)
        let tasks = try EvalTask.allCases.map { try Demo.task($0) }
        let outcome = try Demo.evaluate(tasks, EvaluationSettings(maxLength: maxLength))
        XCTAssertFalse(outcome.interrupted)
        var truncated = 0
        for (task, scores) in outcome.scores {
            let r = try XCTUnwrap(ref["tasks"]?[task.rawValue], task.rawValue)
            let docs = try XCTUnwrap(r["docs"]?.arrayValue)
            let samples = outcome.samples.filter { $0.task == task }
            XCTAssertEqual(samples.count, docs.count, task.rawValue)
            for (s, d) in zip(samples, docs) {
                let what = "\(task.rawValue) doc \(s.docId)"
                XCTAssertEqual(s.docId, d["doc_id"]?.intValue, what)
                XCTAssertEqual(s.context, d["context"]?.stringValue, what)
                XCTAssertEqual(s.choices.map { " " + $0 }, d["continuations"]?.arrayValue?.compactMap(\.stringValue), what)
                XCTAssertEqual(s.label, d["label"]?.intValue, what)
                let lls = try XCTUnwrap(d["loglikelihoods"]?.arrayValue).compactMap(\.doubleValue)
                XCTAssertEqual(lls.count, s.results.count, what)
                for (ours, theirs) in zip(s.results, lls) { XCTAssertEqual(ours.logprob, theirs, accuracy: 1e-4, what) }
                XCTAssertEqual(s.results.map(\.isGreedy), d["is_greedy"]?.arrayValue?.compactMap(\.boolValue), what)
                XCTAssertEqual(s.scores.acc, d["acc"]?.doubleValue, what)
                XCTAssertEqual(s.scores.accNorm, d["acc_norm"]?.doubleValue, what)
                if Demo.tokenizer.encode(s.context, addSpecialTokens: false).count >= maxLength { truncated += 1 }
            }
            XCTAssertEqual(scores.numDocs, r["num_docs"]?.intValue)
            for name in ["acc", "acc_norm"] {
                XCTAssertEqual(scores[name]!.mean, r[name]!.doubleValue!, accuracy: 1e-12, "\(task.rawValue) \(name)")
                XCTAssertEqual(scores[name]!.stderr!, r[name + "_stderr"]!.doubleValue!, accuracy: 1e-12, "\(task.rawValue) \(name)")
            }
        }
        XCTAssertGreaterThan(truncated, 0, "some SciQ contexts are longer than the window and cut from the left")
        // Each document's context ran once, not once per choice.
        let computed = try XCTUnwrap(outcome.computedTokens)
        XCTAssertLessThan(Double(computed), 0.6 * Double(outcome.naiveTokens))
    }

    /// An interrupted run keeps what it scored; `--resume` scores the rest and writes the
    /// same results file as a run that was never interrupted.
    func testResumeAfterInterruptionGivesTheSameResults() throws {
        let tasks = [try Demo.task(.arcEasy, limit: 10), try Demo.task(.hellaswag, limit: 6)]
        let full = try Demo.evaluate(tasks)

        let log = temporaryFile("samples.jsonl")
        var settings = EvaluationSettings(maxLength: 256)
        settings.samplesPath = log
        let partial = try Demo.evaluate(tasks, settings, stopAfter: 4)
        XCTAssertTrue(partial.interrupted)
        XCTAssertGreaterThanOrEqual(partial.samples.count, 4)
        XCTAssertLessThan(partial.samples.count, 16)
        XCTAssertEqual(partial.scores.reduce(0) { $0 + $1.scores.numDocs }, partial.samples.count)
        XCTAssertTrue(Demo.resultsText(partial, tasks).contains("\"interrupted\": true"))
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, partial.samples.count)

        // A run killed while writing leaves half a line: that document is scored again.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"doc_id\": 9, \"task\": \"arc_e".utf8))
        try handle.close()

        settings.resume = true
        let warnings = Shared<[String]>([])
        let resumed = try Demo.evaluate(tasks, settings, warnings: warnings)
        XCTAssertFalse(resumed.interrupted)
        XCTAssertEqual(Demo.resultsText(resumed, tasks), Demo.resultsText(full, tasks))
        assertSameSamples(resumed.samples, full.samples)
        XCTAssertTrue(warnings.value.contains { $0.contains("samples.jsonl:\(lines.count + 1)") && $0.contains("scored again") }, "\(warnings.value)")
        XCTAssertTrue(warnings.value.contains { $0.contains("resuming: \(partial.samples.count) documents") }, "\(warnings.value)")
        // The log now holds every document, in task and document order.
        let final = try InputFile(path: log).lines.map { try Sample(json: try $0.value.get()) }
        XCTAssertEqual(final.map { "\($0.task) \($0.docId)" }, full.samples.map { "\($0.task) \($0.docId)" })
    }

    /// A log written with other settings (here: few-shot contexts) is not mixed in.
    func testResumeRefusesALogOfOtherSettings() throws {
        let tasks = [try Demo.task(.arcEasy, limit: 3)]
        let log = temporaryFile("samples.jsonl")
        var settings = EvaluationSettings(maxLength: 256)
        settings.samplesPath = log
        _ = try Demo.evaluate(tasks, settings)
        settings.resume = true
        settings.numFewshot = 1
        let pool = FewShot(pool: try Demo.task(.arcEasy).documents, seed: 1, poolIsEvaluated: true)
        XCTAssertThrowsError(try Demo.evaluate(tasks, settings, pools: [.arcEasy: pool])) {
            XCTAssertTrue("\($0)".contains("written with other settings"), "\($0)")
        }
    }

    /// A document whose choice does not fit the window is skipped with a warning, or stops
    /// a strict run; the others are scored.
    func testUnscorableDocumentIsSkippedOrStrictlyFatal() throws {
        let tasks = [try Demo.task(.sciq, limit: 5)]
        let warnings = Shared<[String]>([])
        var settings = EvaluationSettings(maxLength: 4)
        let outcome = try Demo.evaluate(tasks, settings, warnings: warnings)
        let scored = outcome.scores[0].scores.numDocs
        XCTAssertEqual(scored + (outcome.skipped[.sciq] ?? 0), 5)
        XCTAssertGreaterThan(outcome.skipped[.sciq] ?? 0, 0)
        XCTAssertTrue(warnings.value.contains { $0.contains("sciq doc") && $0.contains("exceed the maximum context length 4") }, "\(warnings.value)")
        settings.strict = true
        XCTAssertThrowsError(try Demo.evaluate(tasks, settings)) {
            guard case .unscorable(task: "sciq", _, _) = $0 as? EvaluationError else { return XCTFail("\($0)") }
        }
    }
}
