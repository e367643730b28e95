import Engine
import Foundation
import Tokenizer

/// How documents become scored pairs.
public struct EvaluationSettings: Sendable {
    public var numFewshot = 0
    /// lm-eval's default `fewshot_seed`.
    public var fewshotSeed: UInt64 = 1234
    /// BOS before each context (lm-eval's `add_bos_token`; off in lm-eval by default).
    public var addBOSToken = false
    /// Tokens of context + continuation kept (from the right) — lm-eval's API models with
    /// `max_length = maxLength + 1`, which keep one position for a generated token.
    public var maxLength: Int
    /// A document that cannot be scored stops the run instead of being skipped.
    public var strict = false
    public var samplesPath: String?
    /// Keep the samples already in `samplesPath` and score only the other documents.
    public var resume = false

    public init(maxLength: Int) { self.maxLength = maxLength }
}

/// Where a run stands, after each document.
public struct EvaluationProgress: Sendable {
    public let done: Int
    public let total: Int
    public let seconds: Double
    /// Tokens run through the model, or scored when the scorer cannot tell (servers).
    public let tokens: Int
}

public struct EvaluationOutcome: Sendable {
    public let scores: [(task: EvalTask, scores: TaskScores)]
    public let samples: [Sample]
    /// Ctrl-C (or `shouldStop`) ended the run before every document was scored.
    public let interrupted: Bool
    /// Documents left out per task: malformed rows plus ones that could not be scored.
    public let skipped: [EvalTask: Int]
    /// Forward-pass tokens this run computed (nil: servers did) and what scoring every
    /// choice with its own copy of the context would compute.
    public let computedTokens: Int?
    public let naiveTokens: Int
}

/// Scores the documents of some tasks: renders few-shot contexts, tokenizes each choice with
/// lm-eval's pair rule, scores longest documents first (so the last passes are not left with
/// one long straggler), logs samples as they finish and aggregates.
public final class Evaluator {
    let tasks: [TaskData]
    let fewshotPools: [EvalTask: FewShot]
    let rule: LoglikelihoodPairRule
    let settings: EvaluationSettings
    let warn: (String) -> Void
    public var onProgress: ((EvaluationProgress) -> Void)?

    /// `fewshotPools`: examples per task (a training file's documents, or the task's own
    /// when none is given); needed when `numFewshot > 0`.
    public init(tasks: [TaskData], fewshotPools: [EvalTask: FewShot] = [:], tokenizer: Tokenizer,
                settings: EvaluationSettings, warn: @escaping (String) -> Void) {
        self.tasks = tasks
        self.fewshotPools = fewshotPools
        self.settings = settings
        self.warn = warn
        rule = LoglikelihoodPairRule(tokenizer: tokenizer, addSpecialTokens: settings.addBOSToken,
                                     maxLength: settings.maxLength, truncate: true)
    }

    public func run(scorer: Scorer, shouldStop: @escaping @Sendable () -> Bool = { false }) throws -> EvaluationOutcome {
        var skipped: [EvalTask: Int] = [:]
        for t in tasks {
            skipped[t.task] = t.skipped.count
            for e in t.skipped { warn("skipped \(e)") }
        }
        let documents = try tasks.flatMap { t in try t.documents.map { try withFewShot($0) } }
        let log = try settings.samplesPath.map { try SamplesLog(path: $0, resume: settings.resume, warn: warn) }
        defer { log?.close() }
        var done = try resumed(log?.previous ?? [], documents: documents)

        // Tokenize what is left; a document that cannot be scored is skipped (or fatal).
        var work: [(doc: Document, pairs: [ScoringPair])] = []
        for d in documents where done[Key(d)] == nil {
            do {
                var cache: [String: [Int]] = [:]
                let pairs = try d.continuations.enumerated().map { i, c in
                    try rule.pair(context: d.context, continuation: c, index: i, encodedContext: &cache)
                }
                work.append((d, pairs))
            } catch let e as LoglikelihoodError {
                let error = EvaluationError.unscorable(task: d.task.rawValue, docId: d.docId, reason: "choice \(e.index): \(e)")
                if settings.strict { throw error }
                warn("skipped \(error)")
                skipped[d.task, default: 0] += 1
            }
        }
        let tokens = { (pairs: [ScoringPair]) in pairs.reduce(0) { $0 + $1.context.count + $1.continuation.count } }
        work.sort { tokens($0.pairs) > tokens($1.pairs) }
        let naive = work.reduce(0) { $0 + tokens($1.pairs) }

        let started = Date()
        let total = done.count + work.count
        var scoredTokens = 0
        let completed = try scorer.score(work.map(\.pairs), shouldStop: shouldStop) { [self] u, results in
            let sample = Sample(document: work[u].doc, results: results)
            done[Key(work[u].doc)] = sample
            try log?.append(sample)
            scoredTokens += tokens(work[u].pairs)
            onProgress?(EvaluationProgress(done: done.count, total: total, seconds: Date().timeIntervalSince(started),
                                           tokens: scorer.computedTokens ?? scoredTokens))
        }

        let samples = documents.compactMap { done[Key($0)] }
        try log?.rewrite(samples)
        let scores = tasks.map { t in (t.task, TaskScores(samples.filter { $0.task == t.task }.map(\.scores))) }
        return EvaluationOutcome(scores: scores, samples: samples, interrupted: !completed, skipped: skipped,
                                 computedTokens: scorer.computedTokens, naiveTokens: naive)
    }

    private struct Key: Hashable {
        let task: EvalTask, docId: Int
        init(_ d: Document) { task = d.task; docId = d.docId }
        init(_ s: Sample) { task = s.task; docId = s.docId }
    }

    private func withFewShot(_ d: Document) throws -> Document {
        guard settings.numFewshot > 0 else { return d }
        guard let pool = fewshotPools[d.task] else {
            throw EvaluationError.invalidOption("--num-fewshot needs examples for \(d.task.rawValue)")
        }
        return try pool.apply(settings.numFewshot, to: d)
    }

    /// Samples of an earlier run that belong to this one. A sample whose document renders
    /// differently now was written with other settings: mixing them would be wrong.
    private func resumed(_ previous: [Sample], documents: [Document]) throws -> [Key: Sample] {
        let byKey = Dictionary(documents.map { (Key($0), $0) }, uniquingKeysWith: { a, _ in a })
        var done: [Key: Sample] = [:], foreign = 0
        for s in previous {
            guard let d = byKey[Key(s)] else { foreign += 1; continue }
            guard d.context == s.context, d.choices == s.choices, d.label == s.label else {
                throw EvaluationError.invalidOption(
                    "\(settings.samplesPath ?? "the samples log") was written with other settings: \(s.task.rawValue) doc \(s.docId) "
                    + "differs from this run's; remove it or drop --resume")
            }
            done[Key(s)] = s
        }
        if foreign > 0 { warn("\(foreign) samples in \(settings.samplesPath ?? "the log") are not documents of this run; they are dropped") }
        if !done.isEmpty { warn("resuming: \(done.count) documents already scored") }
        return done
    }
}
