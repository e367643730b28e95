import Checkpoint
import Foundation
import Kernels
import PolyKernels

/// Causal self-attention with grouped KV heads, optional QK-norm (OLMoE) and clipping.
public struct Attention: Sendable {
    /// Query rows of a prefill chunk whose scores are computed at once.
    static let queryBlock = 128
    public let q: Matrix, k: Matrix, v: Matrix, o: Matrix
    /// RMSNorm weights [H·hd] / [KV·hd] F32 over the whole q / k projection (OLMoE),
    /// applied before RoPE.
    public let qNorm: Tensor?, kNorm: Tensor?
    public let clip: Float?
    public let heads: Int, kvHeads: Int, headDim: Int
    public let normEps: Float

    public init(q: Matrix, k: Matrix, v: Matrix, o: Matrix, qNorm: Tensor? = nil, kNorm: Tensor? = nil,
                config: ModelConfig) {
        (self.q, self.k, self.v, self.o) = (q, k, v, o)
        (self.qNorm, self.kNorm) = (qNorm, kNorm)
        clip = config.clipQkv
        heads = config.numAttentionHeads
        kvHeads = config.numKeyValueHeads
        headDim = config.headDim
        normEps = config.rmsNormEps
    }

    /// Weights under `prefix` (`model.layers.{i}.self_attn.`).
    func parameters(_ prefix: String) -> [Parameter] {
        var out = [Parameter(prefix + "q_proj.weight", q), Parameter(prefix + "k_proj.weight", k),
                   Parameter(prefix + "v_proj.weight", v), Parameter(prefix + "o_proj.weight", o)]
        if let qNorm { out.append(Parameter(prefix + "q_norm.weight", qNorm)) }
        if let kNorm { out.append(Parameter(prefix + "k_norm.weight", kNorm)) }
        return out
    }

    /// out[N, D] = attention over `x`[N, D] (already normalised) for the chunks' tokens,
    /// writing their keys and values into the chunks' caches at `layer`. With `outputRows`
    /// (ascending row indices) out holds only those rows, [outputRows.count, D]: every token's
    /// keys and values still go into the caches, but the output projection runs on the kept
    /// rows alone.
    func forward(_ x: UnsafePointer<Float>, tokens N: Int, chunks: [SequenceChunk], layer: Int,
                 rope: RoPE, ropeTables: RoPE.Tables, pass: ForwardPass, outputRows: [Int]? = nil,
                 out: UnsafeMutablePointer<Float>) {
        let qDim = heads * headDim, kvDim = kvHeads * headDim, options = pass.options
        let qs = pass.work.buffer(.q, N * qDim), ks = pass.work.buffer(.k, N * kvDim), vs = pass.work.buffer(.v, N * kvDim)
        Matrix.apply([(q, qs), (k, ks), (v, vs)], to: x, tokens: N, options: options)
        if let qNorm { pk_rmsnorm(qs, qs, qNorm.f32, N, qDim, normEps) }
        if let kNorm { pk_rmsnorm(ks, ks, kNorm.f32, N, kvDim, normEps) }
        // transformers' OLMoE clamps after QK-norm (original OLMo code clamps the fused
        // projection before it); HF checkpoints and their reference outputs follow HF.
        if let clip {
            for (b, n) in [(qs, N * qDim), (ks, N * kvDim), (vs, N * kvDim)] {
                for i in 0..<n { b[i] = min(max(b[i], -clip), clip) }
            }
        }
        rope.apply(qs, ld: qDim, tokens: N, heads: heads, tables: ropeTables)
        rope.apply(ks, ld: kvDim, tokens: N, heads: kvHeads, tables: ropeTables)
        pass.observeLayer("attn.q", qs, [N, qDim])
        pass.observeLayer("attn.k", ks, [N, kvDim])
        pass.observeLayer("attn.v", vs, [N, kvDim])

        let context = pass.work.buffer(.context, N * qDim)
        let scale = 1 / Float(headDim).squareRoot()
        var row = 0
        let spans = chunks.map { chunk in
            defer { row += chunk.tokens.count }
            return (row: row, n: chunk.tokens.count, start: chunk.cache.count)
        }
        let runs = chunks.map { $0.cache.runs(layer: layer) }
        // Every chunk's keys and values into its cache first: a chunk's attention reads its own.
        KVCache.copy(spans.indices.flatMap { c in
            let span = spans[c], at = (span.start - runs[c].sharedCount) * kvDim
            return [(ks, runs[c].keys), (vs, runs[c].values)].map { from, to in
                KVCache.Copy(from: UnsafeSendable(from + span.row * kvDim), to: UnsafeSendable(to + at), count: span.n * kvDim)
            }
        }, threads: options.threads)
        // One run over every (chunk, head) of the step, the costliest first, each thread taking
        // the next when done: a scoring step holds ~25 chunks (a context, endings of ~20 tokens),
        // and a run per chunk with its heads split evenly in advance left a core waiting at
        // each of their ends.
        let cost = spans.map { $0.n * ($0.start + $0.n) } // query rows × keys
        let items = spans.indices.sorted { cost[$0] > cost[$1] }.flatMap { c in (0..<heads).map { (chunk: c, head: $0) } }
        let work = cost.reduce(0, +) * heads * headDim
        // Splitting small work across threads costs more than it saves; prefill chunks keep to
        // `headWorkers` (one where OpenBLAS splits their products itself).
        let threads = spans.contains { $0.n > 1 } ? pass.headWorkers : options.threads
        let workers = work < 1 << 16 ? 1 : min(threads, items.count)
        // Queries in blocks of `Attention.queryBlock` rows, each against the keys up to its last
        // position only: scores never hold more than a block's rows (not n × total), and the
        // causal upper triangle past each block is never computed. Each worker has its own scores.
        let scratch = spans.map { min($0.n, Attention.queryBlock) * ($0.start + $0.n) }.max() ?? 0
        let scores = pass.work.buffer(.scores, workers * scratch)
        let valid = spans.flatMap { s in (0..<s.n).map { s.start + $0 + 1 } }
        let q = UnsafeSendable(qs), ctx = UnsafeSendable(context), sp = UnsafeSendable(scores)
        let hd = headDim, group = heads / kvHeads, isa = options.kernels.rawValue
        // Our AVX-512 products, except where OpenBLAS holds the threads and splits each product.
        let own = options.kernels == .avx512 && !pass.blasSplitsProducts
        valid.withUnsafeBufferPointer { validRows in
            let valid = UnsafeSendable(UnsafeMutablePointer(mutating: validRows.baseAddress!))
            WorkerPool.shared(threads: workers).run(items: items.count, threads: workers) { i, worker in
                let (c, h) = items[i], span = spans[c], g = h / group, run = runs[c]
                let n = span.n, total = span.start + n, s = sp.pointer + worker * scratch
                // Keys and values in two runs (`KVCache.Runs`): a shared prefix of p positions, then the cache's own.
                let p = run.sharedCount, kg = run.keys + g * hd, vg = run.values + g * hd
                let kp = run.sharedKeys.map { $0 + g * hd }, vp = run.sharedValues.map { $0 + g * hd }
                if n == 1 {
                    // Decode: one query; a plain loop beats two BLAS calls.
                    pk_attend_runs_isa(isa, ctx.pointer + span.row * qDim + h * hd, q.pointer + span.row * qDim + h * hd,
                                       kp, vp, p, kg, vg, total - p, kvDim, hd, scale, s)
                    return
                }
                for r0 in stride(from: 0, to: n, by: Attention.queryBlock) {
                    let rows = min(Attention.queryBlock, n - r0), keys = span.start + r0 + rows
                    let qh = q.pointer + (span.row + r0) * qDim + h * hd, ch = ctx.pointer + (span.row + r0) * qDim + h * hd
                    // scores[rows, keys] = q_h · k_gᵀ / √hd, a run at a time; our AVX-512 kernel, else OpenBLAS
                    func scoreRun(_ k: UnsafeMutablePointer<Float>, first: Int, count: Int) {
                        if !own || pk_attn_scores(s + first, keys, qh, qDim, k, kvDim, rows, count, hd, scale) != 0 {
                            BLAS.sgemm(transB: true, m: rows, n: count, k: hd, alpha: scale, a: qh, lda: qDim, b: k, ldb: kvDim,
                                       c: s + first, ldc: keys)
                        }
                    }
                    // context[rows, hd] (+)= scores · v_g over one run's keys
                    func contextRun(_ v: UnsafeMutablePointer<Float>, first: Int, count: Int, accumulate: Bool) {
                        if !own || pk_attn_context(ch, qDim, s + first, keys, v, kvDim, rows, count, hd, accumulate ? 1 : 0) != 0 {
                            BLAS.sgemm(m: rows, n: hd, k: count, a: s + first, lda: keys, b: v, ldb: kvDim,
                                       beta: accumulate ? 1 : 0, c: ch, ldc: qDim)
                        }
                    }
                    if let kp { scoreRun(kp, first: 0, count: p) }
                    scoreRun(kg, first: p, count: keys - p)
                    pk_softmax_causal(s, keys, valid.pointer + span.row + r0, rows)
                    if let vp { contextRun(vp, first: 0, count: p, accumulate: false) }
                    contextRun(vg, first: p, count: keys - p, accumulate: vp != nil)
                }
            }
        }
        pass.observeLayer("attn.context", context, [N, qDim])
        if let outputRows { compactRows(context, width: qDim, keeping: outputRows) }
        o.apply(context, tokens: outputRows?.count ?? N, into: out, options: options)
    }
}

/// A pointer handed to worker threads that write disjoint parts of its memory.
struct UnsafeSendable<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}
