import Engine
@testable import Evaluation
import Foundation
import JSON
import Model
import TestSupport
import Tokenizer
import XCTest

/// The demo model (it has a tokenizer), one engine for all tests, the committed subsets.
enum Demo {
    static let path = repositoryRoot + "/Models/polynorm-demo"
    static let tokenizer = try! Tokenizer(path: path)
    static let engine: Engine = {
        let e = Engine(model: try! Architectures.load(path: path))
        e.start()
        return e
    }()
    static let data = fixturesDirectory + "/eval"

    static func task(_ t: EvalTask, limit: Int? = nil) throws -> TaskData {
        try TaskData(task: t, path: data + "/\(t.rawValue).jsonl", limit: limit)
    }

    /// In-process run; warnings are collected in `warnings`.
    static func evaluate(_ tasks: [TaskData], _ settings: EvaluationSettings = EvaluationSettings(maxLength: 256),
                         scorer: Scorer? = nil, pools: [EvalTask: FewShot] = [:], warnings: Shared<[String]>? = nil,
                         stopAfter: Int? = nil) throws -> EvaluationOutcome {
        let evaluator = Evaluator(tasks: tasks, fewshotPools: pools, tokenizer: tokenizer, settings: settings,
                                  warn: { line in warnings?.update { $0.append(line) } })
        let done = Shared(0)
        evaluator.onProgress = { p in done.update { $0 = p.done } }
        return try evaluator.run(scorer: scorer ?? EngineScorer(engine: engine),
                                 shouldStop: { stopAfter.map { done.value >= $0 } ?? false })
    }

    /// results.json text for an outcome of `tasks` with default settings.
    static func resultsText(_ outcome: EvaluationOutcome, _ tasks: [TaskData], maxLength: Int = 256) -> String {
        ResultsFile(outcome: outcome, config: ResultsFile.Config(
            model: path, data: tasks.map { ($0.task, $0.path) }, limit: nil, numFewshot: 0, fewshotSeed: 1234,
            fewshotData: [], maxLength: maxLength, addBOSToken: false)).json.serialized(pretty: true)
    }
}


/// Samples agree: same documents, strings and per-document metrics; log-likelihoods within
/// `tolerance` (batches of different shapes round differently, ~1e-6).
func assertSameSamples(_ a: [Sample], _ b: [Sample], tolerance: Double = 1e-4, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) {
        XCTAssertEqual(x.task, y.task, file: file, line: line)
        XCTAssertEqual(x.docId, y.docId, file: file, line: line)
        XCTAssertEqual(x.context, y.context, file: file, line: line)
        XCTAssertEqual(x.choices, y.choices, file: file, line: line)
        XCTAssertEqual(x.scores, y.scores, "\(x.task) doc \(x.docId)", file: file, line: line)
        XCTAssertEqual(x.results.map(\.numTokens), y.results.map(\.numTokens), file: file, line: line)
        XCTAssertEqual(x.results.map(\.isGreedy), y.results.map(\.isGreedy), file: file, line: line)
        for (p, q) in zip(x.results, y.results) {
            XCTAssertEqual(p.logprob, q.logprob, accuracy: tolerance, "\(x.task) doc \(x.docId)", file: file, line: line)
        }
    }
}

/// A temporary file path with `contents` written, if given.
func temporaryFile(_ name: String, _ contents: String? = nil) -> String {
    let path = temporaryDirectory() + "/" + name
    if let contents { try! Data(contents.utf8).write(to: URL(fileURLWithPath: path)) }
    return path
}
