import Kernels

/// New tokens of one sequence to run through the model, appended to its KV cache.
public struct SequenceChunk {
    public let cache: KVCache
    public let tokens: [Int]
    /// Logits for every token of this chunk even when the batch asks for `.last`
    /// (prompt log-probs of one sequence batched with others' decode steps).
    public let allLogits: Bool
    public init(cache: KVCache, tokens: [Int], allLogits: Bool = false) {
        self.cache = cache
        self.tokens = tokens
        self.allLogits = allLogits
    }
}

/// Which positions need logits: all of them (scoring, echo) or each chunk's last (decode;
/// chunks with `allLogits` still get all of theirs).
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

/// Moves rows `kept` (ascending indices) of a [_, width] buffer to its first kept.count rows,
/// in order. Ascending rows move down or stay, so each copy overwrites only a row already moved.
func compactRows(_ buffer: UnsafeMutablePointer<Float>, width: Int, keeping kept: [Int]) {
    for (i, r) in kept.enumerated() where i != r { (buffer + i * width).update(from: buffer + r * width, count: width) }
}
