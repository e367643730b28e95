import Checkpoint
import Kernels

/// The keys and values of one sequence, per layer, for every position seen so far.
///
/// Rows are [positions, kvHeads · headDim]; storage grows by doubling so appending a
/// token is amortised O(1) and a prefix can be copied into a new sequence.
public final class KVCache: @unchecked Sendable {
    public let layers: Int
    public let width: Int
    public private(set) var capacity: Int
    /// Positions filled (the next token's position).
    public internal(set) var count: Int = 0
    private(set) var keys: [FloatBuffer]
    private(set) var values: [FloatBuffer]

    public init(layers: Int, width: Int, capacity: Int = 64) {
        self.layers = layers
        self.width = width
        self.capacity = max(capacity, 1)
        // Positions are written before they are read: no need to zero (or touch) the memory.
        keys = (0..<layers).map { _ in FloatBuffer(count: max(capacity, 1) * width, zeroed: false) }
        values = (0..<layers).map { _ in FloatBuffer(count: max(capacity, 1) * width, zeroed: false) }
    }

    /// Makes room for `positions` positions in total: exactly that many when the caller
    /// knows the final length, else by doubling (amortised appends).
    public func reserve(_ positions: Int, exactly: Bool = false) {
        guard positions > capacity else { return }
        var newCapacity = capacity
        while newCapacity < positions { newCapacity *= 2 }
        if exactly { newCapacity = positions }
        keys = keys.map { Self.grow($0, rows: count, width: width, capacity: newCapacity) }
        values = values.map { Self.grow($0, rows: count, width: width, capacity: newCapacity) }
        capacity = newCapacity
    }

    private static func grow(_ b: FloatBuffer, rows: Int, width: Int, capacity: Int) -> FloatBuffer {
        let n = FloatBuffer(count: capacity * width, zeroed: false)
        n.pointer.update(from: b.pointer, count: rows * width)
        return n
    }

    public func keys(layer: Int) -> UnsafeMutablePointer<Float> { keys[layer].pointer }
    public func values(layer: Int) -> UnsafeMutablePointer<Float> { values[layer].pointer }

    /// Forgets positions from `length` on (rewind after a rejected continuation).
    public func truncate(to length: Int) {
        precondition(length <= count)
        count = length
    }

    /// A new cache holding this cache's first `length` positions, with room for `capacity`
    /// (at least `length`; a caller that knows its final length copies once, not again on
    /// growing), copied on up to `threads` threads (`KVCache.copy`: an 80-token context of a
    /// 1B-shaped model is 5 MB, copied for each of a HellaSwag item's endings).
    public func copyPrefix(_ length: Int, capacity: Int = 0, threads: Int = 1) -> KVCache {
        precondition(length <= count)
        let c = KVCache(layers: layers, width: width, capacity: max(length, 16, capacity))
        KVCache.copy(zip(keys + values, c.keys + c.values).map { from, to in
            Copy(from: UnsafeSendable(from.pointer), to: UnsafeSendable(to.pointer), count: length * width)
        }, threads: threads)
        c.count = length
        return c
    }

    /// `count` floats from `from` to `to`.
    struct Copy: Sendable {
        let from: UnsafeSendable<Float>
        let to: UnsafeSendable<Float>
        let count: Int
    }

    /// The copies, on up to `threads` threads once they move 2^18 floats (1 MiB) or more, each
    /// thread taking the next when done. Copies into a cache write fresh pages, and the kernel
    /// clearing them is most of their time: on one thread (a scoring step's ~25 chunks, a
    /// prefix-cache hit) the other core waited.
    static func copy(_ copies: [Copy], threads: Int) {
        let workers = copies.reduce(0) { $0 + $1.count } < 1 << 18 ? 1 : threads
        WorkerPool.shared(threads: workers).run(items: copies.count, threads: workers) { i, _ in
            copies[i].to.pointer.update(from: copies[i].from.pointer, count: copies[i].count)
        }
    }

    /// Bytes of key/value storage held.
    public var bytes: Int { capacity * KVCache.bytesPerPosition(layers: layers, width: width) }

    /// f32 keys and values of every layer for one position.
    static func bytesPerPosition(layers: Int, width: Int) -> Int { 2 * layers * width * MemoryLayout<Float>.size }
}

extension ModelConfig {
    /// KV-cache bytes one position of a sequence takes.
    public var kvCacheBytesPerPosition: Int { KVCache.bytesPerPosition(layers: numHiddenLayers, width: kvDim) }
}
