import ArgumentParser
import Foundation
import JSON
import Kernels
import Model

/// `polycom bench`: speed measurements; compare side by side with tools/bench/compare_torch.py.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed (model prefill/decode, tokenizer).",
        subcommands: [BenchModel.self, BenchTokenizer.self])
}

struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Prefill and decode throughput of a checkpoint.",
        discussion: """
            Prefill: one pass over --prompt-tokens tokens. Decode: --decode-tokens single-token \
            steps through the KV cache, for --batch sequences at once (continuous batching's \
            shape). Reports tokens/s and the weight bandwidth decode achieves.
            """)

    @Option(help: "Checkpoint folder.")
    var model: String

    @Option(help: "Prompt length for the prefill measurement.")
    var promptTokens = 128

    @Option(help: "Decode steps to time.")
    var decodeTokens = 32

    @Option(help: "Sequences decoded together.")
    var batch = 1

    @Option(help: "Repetitions (the best is reported).")
    var repeats = 3

    @Option(help: "Threads for matrix products (default: all cores).")
    var threads: Int?

    @Flag(help: "Prefill bf16 weights with AVX512-BF16 dot products (activations rounded to bf16).")
    var bf16Prefill = false

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        // OpenBLAS's thread count is process-wide: set once, here, next to our kernels' count.
        if let threads { BLAS.threads = threads }
        let options = ComputeOptions(threads: threads ?? ComputeOptions.cores, bf16DotProducts: bf16Prefill)
        let m = try Architectures.load(path: model, options: options)
        let vocab = m.config.vocabSize
        var rng = SplitMix64(seed: 1)
        let prompt = (0..<promptTokens).map { _ in Int(rng.next() % UInt64(vocab)) }
        let weightBytes = m.bytesReadPerToken

        var prefill = Double.infinity, decode = Double.infinity
        for _ in 0..<repeats {
            let caches = (0..<batch).map { _ in m.makeCache(capacity: promptTokens + decodeTokens + 1) }
            var t0 = Date()
            for c in caches { _ = try m.forward([SequenceChunk(cache: c, tokens: prompt)], logits: .last) }
            prefill = min(prefill, Date().timeIntervalSince(t0) / Double(batch))
            t0 = Date()
            for step in 0..<decodeTokens {
                _ = try m.forward(caches.map { SequenceChunk(cache: $0, tokens: [prompt[step % prompt.count]]) }, logits: .last)
            }
            decode = min(decode, Date().timeIntervalSince(t0))
        }
        let prefillRate = Double(promptTokens) / prefill
        let decodeRate = Double(decodeTokens * batch) / decode
        let bandwidth = Double(weightBytes) * Double(decodeTokens) / decode / 1e9
        if json {
            let o: JSONValue = ["model": .string(model), "prompt_tokens": .int(promptTokens), "decode_tokens": .int(decodeTokens),
                                "batch": .int(batch), "prefill_tokens_per_s": .double(prefillRate),
                                "decode_tokens_per_s": .double(decodeRate), "decode_weight_gb_per_s": .double(bandwidth),
                                "weight_bytes": .int(weightBytes), "threads": .int(m.options.threads),
                                "blas": .string(BLASCore.name)]
            print(o.serialized())
        } else {
            print(BLASCore.summary)
            print(String(format: "prefill  %8.1f tokens/s  (%d tokens)", prefillRate, promptTokens))
            print(String(format: "decode   %8.1f tokens/s  (batch %d, %d steps; weights streamed at %.2f GB/s)",
                         decodeRate, batch, decodeTokens, bandwidth))
        }
    }
}
