import Foundation

/// Tokens routed to each expert of each MoE layer, cumulative since creation or `reset()`,
/// for the metrics endpoint and a load-balancing loss. Also keeps the last forward pass's
/// top-k choices per layer (tests compare them with PyTorch's).
///
/// Thread-safe: a model may run forward passes on several threads.
public final class RouterStats: @unchecked Sendable {
    public let layers: Int
    public let experts: Int
    private let lock = NSLock()
    /// [layers, experts]
    private var counts: [Int]
    private var last: [Routing?]

    public init(layers: Int, experts: Int) {
        (self.layers, self.experts) = (layers, experts)
        counts = [Int](repeating: 0, count: layers * experts)
        last = [Routing?](repeating: nil, count: layers)
    }

    public struct Snapshot: Sendable, Equatable {
        /// [layer][expert] tokens routed (a token counts once for each of its k experts).
        public let tokensPerExpert: [[Int]]
        /// Tokens seen by a layer (each counted once).
        public func tokens(layer: Int, topK: Int) -> Int { tokensPerExpert[layer].reduce(0, +) / topK }
    }

    func record(layer: Int, _ routing: Routing) {
        lock.lock()
        defer { lock.unlock() }
        for e in routing.experts { counts[layer * experts + e] += 1 }
        last[layer] = routing
    }

    public func snapshot() -> Snapshot {
        lock.lock()
        defer { lock.unlock() }
        return Snapshot(tokensPerExpert: (0..<layers).map { Array(counts[($0 * experts)..<(($0 + 1) * experts)]) })
    }

    public func reset() {
        lock.lock()
        defer { lock.unlock() }
        counts = [Int](repeating: 0, count: layers * experts)
        last = [Routing?](repeating: nil, count: layers)
    }

    /// The routing of the last forward pass through `layer` (all its tokens, batch order).
    public func lastRouting(layer: Int) -> Routing? {
        lock.lock()
        defer { lock.unlock() }
        return last[layer]
    }
}
