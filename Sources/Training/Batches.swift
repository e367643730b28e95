import Model

/// One training sequence of T tokens and its T targets (-100: no loss at that position).
public struct Example: Sendable, Equatable {
    public var tokens: [Int32]
    public var targets: [Int32]
    public init(tokens: [Int32], targets: [Int32]) { (self.tokens, self.targets) = (tokens, targets) }

    public var targetCount: Int { targets.reduce(0) { $0 + ($1 == -100 ? 0 : 1) } }
}

/// Which examples each micro-batch holds: step s, micro-batch g takes positions
/// (s·G + g)·B … +B−1, modulo the example count; with shuffling a position of epoch e
/// maps through a permutation seeded by (seed, e), so any step is found from its number
/// alone (resuming needs no saved stream).
public struct BatchOrder: Sendable {
    public let examples: Int
    public let batchSize: Int
    public let gradAccum: Int
    public let shuffle: Bool
    public let seed: UInt64

    public init(examples: Int, batchSize: Int, gradAccum: Int, shuffle: Bool, seed: UInt64) {
        (self.examples, self.batchSize, self.gradAccum, self.shuffle, self.seed) = (examples, batchSize, gradAccum, shuffle, seed)
    }

    /// Example indices of micro-batch `micro` of step `step`.
    public func indices(step: Int, micro: Int) -> [Int] {
        var cachedEpoch = -1, perm: [Int] = []
        return (0..<batchSize).map { j in
            let position = (step * gradAccum + micro) * batchSize + j
            guard shuffle else { return position % examples }
            let epoch = position / examples
            if epoch != cachedEpoch { perm = permutation(epoch: epoch); cachedEpoch = epoch }
            return perm[position % examples]
        }
    }

    /// Fisher–Yates over 0..<examples with SplitMix64 seeded from (seed, epoch).
    public func permutation(epoch: Int) -> [Int] {
        var rng = SplitMix64(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(epoch) &+ 1)
        var p = Array(0..<examples)
        if examples > 1 {
            for i in stride(from: examples - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                p.swapAt(i, j)
            }
        }
        return p
    }

    /// Optimizer steps of `epochs` passes over the examples (the last step may wrap).
    public func steps(epochs: Double) -> Int {
        max(1, Int((epochs * Double(examples) / Double(batchSize * gradAccum)).rounded(.up)))
    }
}
