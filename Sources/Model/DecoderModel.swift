import Checkpoint
import Kernels
import PolyKernels

/// One transformer block: h = x + Attn(norm(x)); out = h + FFN(norm(h)).
public struct DecoderLayer: Sendable {
    public let inputNorm: [Float]
    public let attention: Attention
    public let postAttentionNorm: [Float]
    public let feedForward: any FeedForward
}

/// A decoder-only transformer: embeddings, blocks, final norm, LM head. Architecture files
/// (Llama.swift, OLMoE.swift) build it from checkpoint tensors.
public final class DecoderModel: @unchecked Sendable {
    public let config: ModelConfig
    public let embedding: Matrix
    public let layers: [DecoderLayer]
    public let finalNorm: [Float]
    public let lmHead: Matrix
    public let rope: RoPE
    /// Tokens routed per expert per layer (MoE models only).
    public let routerStats: RouterStats?

    public init(config: ModelConfig, embedding: Matrix, layers: [DecoderLayer], finalNorm: [Float], lmHead: Matrix,
                routerStats: RouterStats? = nil) {
        self.routerStats = routerStats
        self.config = config
        self.embedding = embedding
        self.layers = layers
        self.finalNorm = finalNorm
        self.lmHead = lmHead
        rope = RoPE(config: config)
    }

    public var vocabSize: Int { config.vocabSize }

    public func makeCache(capacity: Int = 64) -> KVCache {
        KVCache(layers: config.numHiddenLayers, width: config.kvDim, capacity: capacity)
    }

    /// Runs the chunks' new tokens through the model as one batch, appends them to the
    /// caches and returns the selected logits.
    public func forward(_ chunks: [SequenceChunk], logits selection: LogitsSelection = .last) throws -> Logits {
        let D = config.hiddenSize, V = config.vocabSize
        var tokens: [Int] = [], positions: [Int] = []
        guard Set(chunks.map { ObjectIdentifier($0.cache) }).count == chunks.count else {
            throw ModelError.invalidInput("a sequence appears twice in one batch")
        }
        for chunk in chunks {
            for (i, t) in chunk.tokens.enumerated() {
                guard t >= 0 && t < V else { throw ModelError.invalidInput("token id \(t) is outside the vocabulary (0..<\(V))") }
                tokens.append(t)
                positions.append(chunk.cache.count + i)
            }
            chunk.cache.reserve(chunk.cache.count + chunk.tokens.count)
        }
        let N = tokens.count
        guard N > 0 else { throw ModelError.invalidInput("no tokens to run") }

        let x = FloatBuffer(count: N * D)
        for (i, t) in tokens.enumerated() { embedding.copyRow(t, into: x.row(i, width: D)) }
        let tables = rope.tables(positions: positions)
        let normed = FloatBuffer(count: N * D), delta = FloatBuffer(count: N * D)
        for (l, layer) in layers.enumerated() {
            pk_rmsnorm(normed.pointer, x.pointer, layer.inputNorm, N, D, config.rmsNormEps)
            layer.attention.forward(normed.pointer, tokens: N, chunks: chunks, layer: l, rope: rope,
                                    ropeTables: tables, out: delta.pointer)
            pk_add(x.pointer, x.pointer, delta.pointer, N * D)
            pk_rmsnorm(normed.pointer, x.pointer, layer.postAttentionNorm, N, D, config.rmsNormEps)
            layer.feedForward.forward(normed.pointer, tokens: N, out: delta.pointer)
            pk_add(x.pointer, x.pointer, delta.pointer, N * D)
        }
        for chunk in chunks { chunk.cache.count += chunk.tokens.count }

        var rows: [Int] = []
        switch selection {
        case .all: rows = Array(0..<N)
        case .last:
            var start = 0
            for chunk in chunks {
                let end = start + chunk.tokens.count
                rows += chunk.allLogits ? Array(start..<end) : [end - 1]
                start = end
            }
        }
        let selected = FloatBuffer(count: rows.count * D)
        for (i, r) in rows.enumerated() {
            pk_rmsnorm(selected.row(i, width: D), x.row(r, width: D), finalNorm, 1, D, config.rmsNormEps)
        }
        let out = FloatBuffer(count: rows.count * V)
        lmHead.apply(selected.pointer, tokens: rows.count, into: out.pointer)
        return Logits(rows: rows.count, vocab: V, buffer: out)
    }

    /// Logits [T, V] of one full pass over `tokens` with a fresh cache.
    public func logits(for tokens: [Int]) throws -> Logits {
        try forward([SequenceChunk(cache: makeCache(capacity: tokens.count), tokens: tokens)], logits: .all)
    }
}

public enum ModelError: Error, CustomStringConvertible, Equatable {
    case invalidInput(String)
    public var description: String {
        switch self { case .invalidInput(let m): return m }
    }
}
