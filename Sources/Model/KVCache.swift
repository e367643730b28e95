import Checkpoint
import Kernels

/// The keys and values of one sequence, per layer, for every position seen so far.
///
/// Rows are [positions, kvHeads · headDim]. The first `sharedCount` positions may be read
/// from another cache's storage (`sharingPrefix`: the endings of one HellaSwag item, a chat's
/// earlier turns), never copied or written here; the positions from there on are this cache's
/// own, in storage that grows by doubling so appending a token is amortised O(1).
public final class KVCache: @unchecked Sendable {
    /// Every layer's keys and values for `capacity` consecutive positions.
    final class Storage: @unchecked Sendable {
        let keys: [FloatBuffer], values: [FloatBuffer]
        let capacity: Int
        /// Positions (from the storage's first) that other caches read: never written again.
        var sharedRows = 0

        init(layers: Int, width: Int, capacity: Int) {
            self.capacity = capacity
            // Positions are written before they are read: no need to zero (or touch) the memory.
            keys = (0..<layers).map { _ in FloatBuffer(count: capacity * width, zeroed: false) }
            values = (0..<layers).map { _ in FloatBuffer(count: capacity * width, zeroed: false) }
        }

        var bytes: Int { 2 * keys.reduce(0) { $0 + $1.count } * MemoryLayout<Float>.size }
    }

    public let layers: Int
    public let width: Int
    /// Positions [0, sharedCount) are read from `prefix`, another cache's storage.
    public private(set) var sharedCount = 0
    private(set) var prefix: Storage?
    /// Positions sharedCount ..< capacity.
    private(set) var own: Storage
    /// Positions filled (the next token's position).
    public internal(set) var count: Int = 0

    public init(layers: Int, width: Int, capacity: Int = 64) {
        self.layers = layers
        self.width = width
        own = Storage(layers: layers, width: width, capacity: max(capacity, 1))
    }

    private init(layers: Int, width: Int, prefix: Storage?, sharedCount: Int, ownCapacity: Int) {
        self.layers = layers
        self.width = width
        self.prefix = prefix
        self.sharedCount = sharedCount
        own = Storage(layers: layers, width: width, capacity: max(ownCapacity, 1))
    }

    public var capacity: Int { sharedCount + own.capacity }

    /// Makes room for `positions` positions in total: exactly that many when the caller
    /// knows the final length, else by doubling (amortised appends). Other caches reading this
    /// one's positions keep the storage they read.
    public func reserve(_ positions: Int, exactly: Bool = false) {
        guard positions > capacity else { return }
        var ownCapacity = own.capacity
        while sharedCount + ownCapacity < positions { ownCapacity *= 2 }
        if exactly { ownCapacity = positions - sharedCount }
        replaceOwn(capacity: ownCapacity)
    }

    /// New own storage holding the filled own positions.
    private func replaceOwn(capacity ownCapacity: Int) {
        let next = Storage(layers: layers, width: width, capacity: ownCapacity)
        copyOwn(count - sharedCount, into: next, threads: 1)
        own = next
    }

    /// The first `positions` of the own storage into `to`, every layer's keys and values.
    private func copyOwn(_ positions: Int, into to: Storage, threads: Int) {
        KVCache.copy(zip(own.keys + own.values, to.keys + to.values).map { from, to in
            Copy(from: UnsafeSendable(from.pointer), to: UnsafeSendable(to.pointer), count: positions * width)
        }, threads: threads)
    }

    /// Layer `layer`'s keys and values as two runs of positions: [0, sharedCount) read from
    /// another cache (nil pointers when none), and this cache's own from sharedCount on.
    public struct Runs: @unchecked Sendable {
        public let sharedKeys: UnsafeMutablePointer<Float>?, sharedValues: UnsafeMutablePointer<Float>?
        public let sharedCount: Int
        /// At position `sharedCount`.
        public let keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>
    }

    public func runs(layer: Int) -> Runs {
        Runs(sharedKeys: prefix?.keys[layer].pointer, sharedValues: prefix?.values[layer].pointer, sharedCount: sharedCount,
             keys: own.keys[layer].pointer, values: own.values[layer].pointer)
    }

    /// The keys / values of `position` at `layer` (`width` floats), in whichever run holds it.
    public func keys(layer: Int, position: Int) -> UnsafeMutablePointer<Float> { row(\.keys, layer, position) }

    public func values(layer: Int, position: Int) -> UnsafeMutablePointer<Float> { row(\.values, layer, position) }

    private func row(_ part: KeyPath<Storage, [FloatBuffer]>, _ layer: Int, _ position: Int) -> UnsafeMutablePointer<Float> {
        position < sharedCount ? prefix![keyPath: part][layer].pointer + position * width
            : own[keyPath: part][layer].pointer + (position - sharedCount) * width
    }

    /// Forgets positions from `length` on (rewind after a rejected continuation). Positions
    /// other caches read are never overwritten: own storage they share is left to them.
    public func truncate(to length: Int) {
        precondition(length <= count)
        if length < sharedCount {
            // Positions past `length` become this cache's own: they start the own storage.
            sharedCount = length
            count = length
            if length == 0 { prefix = nil }
            if own.sharedRows > 0 { replaceOwn(capacity: own.capacity) }
            return
        }
        count = length
        if length - sharedCount < own.sharedRows { replaceOwn(capacity: own.capacity) }
    }

    /// A new cache holding this cache's first `length` positions, with room for `capacity`
    /// (at least `length`), reading them from this cache's storage rather than copying them:
    /// an 80-token context of a 1B-shaped model is 5 MB, and each of a HellaSwag item's four
    /// endings took a copy, fresh memory every time. Only where this cache's own positions
    /// follow a shared prefix of its own are those (`length - sharedCount` of them) copied, on
    /// up to `threads` threads (`KVCache.copy`), so no cache reads more than two runs.
    public func sharingPrefix(_ length: Int, capacity: Int = 0, threads: Int = 1) -> KVCache {
        precondition(length <= count)
        let total = max(length, 16, capacity)
        guard length > 0 else { return KVCache(layers: layers, width: width, capacity: total) }
        if length <= sharedCount || sharedCount == 0 {
            let source = length <= sharedCount ? prefix! : own
            source.sharedRows = max(source.sharedRows, length)
            let c = KVCache(layers: layers, width: width, prefix: source, sharedCount: length, ownCapacity: total - length)
            c.count = length
            return c
        }
        let c = KVCache(layers: layers, width: width, prefix: prefix, sharedCount: sharedCount, ownCapacity: total - sharedCount)
        copyOwn(length - sharedCount, into: c.own, threads: threads)
        c.count = length
        return c
    }

    /// The storages this cache reads (its own and a shared prefix's) and their bytes, to count
    /// memory once where several caches share one.
    public var storages: [(id: ObjectIdentifier, bytes: Int)] {
        ([own] + (prefix.map { [$0] } ?? [])).map { (ObjectIdentifier($0), $0.bytes) }
    }

    /// `count` floats from `from` to `to`.
    struct Copy: Sendable {
        let from: UnsafeSendable<Float>
        let to: UnsafeSendable<Float>
        let count: Int
    }

    /// The copies, on up to `threads` threads once they move 2^18 floats (1 MiB) or more, each
    /// thread taking the next when done. Copies into a cache write fresh pages, and the kernel
    /// clearing them is most of their time: on one thread (a scoring step's ~25 chunks) the
    /// other core waited.
    static func copy(_ copies: [Copy], threads: Int) {
        let workers = copies.reduce(0) { $0 + $1.count } < 1 << 18 ? 1 : threads
        WorkerPool.shared(threads: workers).run(items: copies.count, threads: workers) { i, _ in
            copies[i].to.pointer.update(from: copies[i].from.pointer, count: copies[i].count)
        }
    }

    /// Bytes of key/value storage this cache holds itself (not a prefix it shares).
    public var bytes: Int { own.bytes }

    /// f32 keys and values of every layer for one position.
    static func bytesPerPosition(layers: Int, width: Int) -> Int { 2 * layers * width * MemoryLayout<Float>.size }
}

extension ModelConfig {
    /// KV-cache bytes one position of a sequence takes.
    public var kvCacheBytesPerPosition: Int { KVCache.bytesPerPosition(layers: numHiddenLayers, width: kvDim) }
}
