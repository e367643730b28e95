import Engine
import Evaluation
import Foundation
import Model

/// `bench model`'s scoring measurement: HellaSwag-shaped documents (a context and four
/// endings, random tokens) scored as `polycom eval` scores them, through an engine and
/// `EngineScorer` (Engine.loglikelihood: each context computed once, each ending from the
/// prefix cache).
struct ScoringBench {
    static let contextTokens = 80, endingTokens = 20, endings = 4

    let model: DecoderModel
    let documents: Int

    /// Seconds to score `documents` fresh documents and the tokens the engine computed for
    /// them. A fresh engine each time: its prefix cache must not hold an earlier run's contexts.
    func run(seed: UInt64) throws -> (seconds: Double, computedTokens: Int) {
        var rng = SplitMix64(seed: seed)
        let vocab = UInt64(model.config.vocabSize)
        let tokens = { (n: Int) in (0..<n).map { _ in Int(rng.next() % vocab) } }
        let units = (0..<documents).map { _ in
            let context = tokens(Self.contextTokens)
            return (0..<Self.endings).map { _ in ScoringPair(context: context, continuation: tokens(Self.endingTokens)) }
        }
        // EvalCommand's engine settings (its defaults).
        var options = EngineOptions()
        options.maxSequences = 32
        options.maxQueue = max(options.maxQueue, 8 * options.maxSequences)
        let engine = Engine(model: model, options: options)
        engine.start()
        defer { engine.shutdown() }
        let scorer = EngineScorer(engine: engine)
        let t0 = Date()
        _ = try scorer.score(units, shouldStop: { false }) { _, _ in }
        return (Date().timeIntervalSince(t0), scorer.computedTokens ?? 0)
    }
}
