import Engine
import Foundation

/// Something that turns token pairs into log-likelihoods: the engine in this process, or
/// servers over HTTP. Work comes in units (the choices of one document), and each unit is
/// reported whole, once, with its results in order.
public protocol Scorer: AnyObject {
    /// Calls `onUnit(index, results)` for each unit as it completes (serially, maybe from
    /// another thread). Returns false when `shouldStop` turned true first.
    func score(_ units: [[ScoringPair]], shouldStop: @escaping @Sendable () -> Bool,
               onUnit: @escaping (Int, [ScoredContinuation]) throws -> Void) throws -> Bool
    /// Tokens run through the model so far, where the scorer can know (nil: it cannot).
    var computedTokens: Int? { get }
}

/// Scores on an engine in this process through `Engine.loglikelihood`. Each pair is scored
/// once, so only shared contexts enter the engine's prefix cache (`cachesContinuations`).
public final class EngineScorer: Scorer {
    let engine: Engine
    private let counter = TokenCounter()

    /// Takes over the engine's observer to count the tokens it computes.
    public init(engine: Engine) {
        self.engine = engine
        engine.observer = counter
    }

    public var computedTokens: Int? { counter.computed }

    public func score(_ units: [[ScoringPair]], shouldStop: @escaping @Sendable () -> Bool,
                      onUnit: @escaping (Int, [ScoredContinuation]) throws -> Void) throws -> Bool {
        var pairs: [ScoringPair] = [], owner: [(unit: Int, choice: Int)] = []
        for (u, unit) in units.enumerated() {
            for (c, p) in unit.enumerated() {
                pairs.append(p)
                owner.append((u, c))
            }
        }
        var partial = units.map { [ScoredContinuation?](repeating: nil, count: $0.count) }
        var missing = units.map(\.count)
        return try engine.loglikelihood(pairs, cachesContinuations: false, shouldStop: shouldStop) { i, result in
            let (u, c) = owner[i]
            partial[u][c] = result
            missing[u] -= 1
            if missing[u] == 0 { try onUnit(u, partial[u].map { $0! }) }
        }
    }
}

/// Tokens the engine computed: prompt positions minus those taken from the prefix cache.
final class TokenCounter: EngineObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var tokens = 0
    var computed: Int { lock.withLock { tokens } }
    func sequenceStarted(promptTokens: Int, reusedTokens: Int, computedTokens: Int) { lock.withLock { tokens += computedTokens } }
    func tokenGenerated(interTokenSeconds: Double?, timeToFirstTokenSeconds: Double?) {}
    func sequenceFinished(_ reason: FinishReason) {}
}
