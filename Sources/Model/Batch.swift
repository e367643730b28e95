import Kernels

/// New tokens of one sequence to run through the model, appended to its KV cache.
public struct SequenceChunk {
    public let cache: KVCache
    public let tokens: [Int]
    public init(cache: KVCache, tokens: [Int]) {
        self.cache = cache
        self.tokens = tokens
    }
}

/// Which positions need logits: all of them (scoring, echo) or each chunk's last (decode).
public enum LogitsSelection: Sendable {
    case all
    case last
}

/// Logits rows [rows, vocab] in the order of the chunks (and of their tokens for `.all`).
public struct Logits {
    public let rows: Int
    public let vocab: Int
    public let buffer: FloatBuffer

    public func row(_ r: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: buffer.pointer + r * vocab, count: vocab)
    }

    public func array(_ r: Int) -> [Float] { Array(row(r)) }
}
