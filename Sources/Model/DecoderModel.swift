import Checkpoint
import Kernels
import PolyKernels

/// One transformer block: h = x + Attn(norm(x)); out = h + FFN(norm(h)).
public struct DecoderLayer: Sendable {
    /// [D] F32
    public let inputNorm: Tensor
    public let attention: Attention
    /// [D] F32
    public let postAttentionNorm: Tensor
    public let feedForward: any FeedForward

    /// This layer's weights under `prefix` (`model.layers.{i}.`).
    func parameters(_ prefix: String) -> [Parameter] {
        [Parameter(prefix + "input_layernorm.weight", inputNorm)] + attention.parameters(prefix + "self_attn.")
            + [Parameter(prefix + "post_attention_layernorm.weight", postAttentionNorm)] + feedForward.parameters(prefix + "mlp.")
    }
}

/// A decoder-only transformer: embeddings, blocks, final norm, LM head. Architecture files
/// (Llama.swift, OLMoE.swift) build it from checkpoint tensors.
public final class DecoderModel: @unchecked Sendable {
    public let config: ModelConfig
    public let embedding: Matrix
    public let layers: [DecoderLayer]
    /// [D] F32
    public let finalNorm: Tensor
    public let lmHead: Matrix
    public let rope: RoPE
    /// Threads and product paths of every forward pass of this model.
    public let options: ComputeOptions
    /// Tokens routed per expert per layer (MoE models only).
    public let routerStats: RouterStats?
    /// Whether OpenBLAS computes products of the weights: f32 matrices, f16 prefill panels,
    /// bf16 prefill when OpenBLAS runs AVX-512 kernels (`Matrix.apply`); q8 prefill is our
    /// GEMM (sgemm only for shares it refuses). Otherwise OpenBLAS computes only attention's
    /// per-head products of prefill chunks.
    public private(set) var weightProductsUseBLAS = false
    private let workspaces = WorkspacePool()

    public init(config: ModelConfig, embedding: Matrix, layers: [DecoderLayer], finalNorm: Tensor, lmHead: Matrix,
                options: ComputeOptions = ComputeOptions(), routerStats: RouterStats? = nil) {
        self.routerStats = routerStats
        self.config = config
        self.embedding = embedding
        self.layers = layers
        self.finalNorm = finalNorm
        self.lmHead = lmHead
        self.options = options
        rope = RoPE(config: config)
        weightProductsUseBLAS = parameters().contains { p in
            p.tensor.shape.count == 2 && p.tensor.dtype != .i8 && p.tensor.dtype != .bf16
        }
    }

    public var vocabSize: Int { config.vocabSize }

    public func makeCache(capacity: Int = 64) -> KVCache {
        KVCache(layers: config.numHiddenLayers, width: config.kvDim, capacity: capacity)
    }

    /// Floats of work buffers kept between forward passes (idle ones).
    public var workspaceCapacity: Int { workspaces.capacity }

    /// Runs the chunks' new tokens through the model as one batch, appends them to the
    /// caches and returns the selected logits. `observer` sees every named intermediate
    /// (`ActivationObserver` lists them). The logits are written into `reuse` when it is large
    /// enough (a caller that runs pass after pass, as the engine, hands back the last one's:
    /// a scoring step's logits are tens of MB, and fresh ones were fresh pages each time).
    public func forward(_ chunks: [SequenceChunk], logits selection: LogitsSelection = .last,
                        observer: ActivationObserver? = nil, reuse: FloatBuffer? = nil) throws -> Logits {
        let V = config.vocabSize
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
        guard !tokens.isEmpty else { throw ModelError.invalidInput("no tokens to run") }

        var rows: [Int] = []
        switch selection {
        case .all: rows = Array(0..<tokens.count)
        case .last:
            var start = 0
            for chunk in chunks {
                let end = start + chunk.tokens.count
                rows += chunk.allLogits ? Array(start..<end) : [end - 1]
                start = end
            }
        }
        return workspaces.with { work in
            run(tokens: tokens, positions: positions, chunks: chunks, rows: rows, work: work, observer: observer, reuse: reuse)
        }
    }

    private func run(tokens: [Int], positions: [Int], chunks: [SequenceChunk], rows: [Int], work: Workspace,
                     observer: ActivationObserver?, reuse: FloatBuffer?) -> Logits {
        let N = tokens.count, D = config.hiddenSize, V = config.vocabSize, eps = config.rmsNormEps
        // Where OpenBLAS does the weight products it splits each one itself; otherwise (and the
        // CLI then runs OpenBLAS at one thread) attention's per-head products go to our workers.
        var pass = ForwardPass(options: options, work: work, observer: observer, blasSplitsProducts: weightProductsUseBLAS)
        let x = work.buffer(.hidden, N * D), normed = work.buffer(.normed, N * D), delta = work.buffer(.delta, N * D)
        for (i, t) in tokens.enumerated() { embedding.copyRow(t, into: x + i * D) }
        pass.observe("embed", x, [N, D])
        let tables = rope.tables(positions: positions, work: work)
        // Past the last layer's attention only the rows that get logits are needed (the other
        // tokens' keys and values are in the caches by then): its output projection and FFN
        // run on those rows alone, as llama.cpp's last layer does. A scoring context or a
        // prompt needs one row of all its tokens.
        let pruned = rows.count < N && !layers.isEmpty ? rows : nil
        for (l, layer) in layers.enumerated() {
            pass.layer = l
            let kept = l == layers.count - 1 ? pruned : nil, n = kept?.count ?? N
            Self.rmsNorm(normed, x, layer.inputNorm.f32, rows: N, width: D, eps: eps, threads: options.threads)
            pass.observeLayer("attn_norm", normed, [N, D])
            layer.attention.forward(normed, tokens: N, chunks: chunks, layer: l, rope: rope, ropeTables: tables,
                                    pass: pass, outputRows: kept, out: delta)
            pass.observeLayer("attn_out", delta, [n, D])
            if let kept { compactRows(x, width: D, keeping: kept) } // the residual rows too, as attention's output
            Self.addResidual(x, delta, rows: n, width: D, threads: options.threads)
            pass.observeLayer("attn_residual", x, [n, D])
            Self.rmsNorm(normed, x, layer.postAttentionNorm.f32, rows: n, width: D, eps: eps, threads: options.threads)
            pass.observeLayer("mlp_norm", normed, [n, D])
            layer.feedForward.forward(normed, tokens: n, pass: pass, out: delta)
            pass.observeLayer("mlp_out", delta, [n, D])
            Self.addResidual(x, delta, rows: n, width: D, threads: options.threads)
            pass.observeLayer("out", x, [n, D])
        }
        for chunk in chunks { chunk.cache.count += chunk.tokens.count }

        // The last layer left the selected rows first (in order) when it pruned, all N otherwise.
        let selected = work.buffer(.selected, rows.count * D)
        for (i, r) in rows.enumerated() {
            pk_rmsnorm(selected + i * D, x + (pruned == nil ? r : i) * D, finalNorm.f32, 1, D, eps)
        }
        pass.observe("final_norm", selected, [rows.count, D])
        // The logits belong to the caller: the one buffer of a pass not taken from the workspace.
        // Every element is written by the head's product.
        let out = reuse.flatMap { $0.count >= rows.count * V ? $0 : nil } ?? FloatBuffer(count: rows.count * V, zeroed: false)
        lmHead.apply(selected, tokens: rows.count, into: out.pointer, options: options)
        pass.observe("logits", out.pointer, [rows.count, V])
        return Logits(rows: rows.count, vocab: V, buffer: out)
    }

    /// Logits [T, V] of one full pass over `tokens` with a fresh cache.
    public func logits(for tokens: [Int], observer: ActivationObserver? = nil) throws -> Logits {
        try forward([SequenceChunk(cache: makeCache(capacity: tokens.count), tokens: tokens)], logits: .all, observer: observer)
    }
}

public enum ModelError: Error, CustomStringConvertible, Equatable {
    case invalidInput(String)
    public var description: String {
        switch self { case .invalidInput(let m): return m }
    }
}

extension DecoderModel {
    // The layers' norms and residual adds on the cores: on the caller's thread alone they
    // left the other core waiting (0.9% of a scoring run's engine-thread samples, 2 cores).
    // A row's result does not depend on the split.

    /// out = RMSNorm(x) · weight over `rows` rows.
    static func rmsNorm(_ out: UnsafeMutablePointer<Float>, _ x: UnsafeMutablePointer<Float>, _ weight: UnsafePointer<Float>,
                        rows: Int, width: Int, eps: Float, threads: Int) {
        let o = UnsafeSendable(out), x = UnsafeSendable(x), w = UnsafeSendable(UnsafeMutablePointer(mutating: weight))
        WorkerPool.forEachRowBlock(rows: rows, width: width, threads: threads) { r in
            pk_rmsnorm(o.pointer + r.lowerBound * width, x.pointer + r.lowerBound * width, w.pointer, r.count, width, eps)
        }
    }

    /// x += delta over `rows` rows.
    static func addResidual(_ x: UnsafeMutablePointer<Float>, _ delta: UnsafeMutablePointer<Float>, rows: Int, width: Int,
                            threads: Int) {
        let x = UnsafeSendable(x), d = UnsafeSendable(delta)
        WorkerPool.forEachRowBlock(rows: rows, width: width, threads: threads) { r in
            let p = x.pointer + r.lowerBound * width
            pk_add(p, p, d.pointer + r.lowerBound * width, r.count * width)
        }
    }
}
