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
        abstract: "Prefill, decode and scoring throughput of a checkpoint, against this machine's limits.",
        discussion: """
            Prefill: one pass over each --prompt-tokens length. Decode: --decode-tokens \
            single-token steps through the KV cache, for each --batch count of sequences at \
            once (continuous batching's shape). Scoring: --scoring-docs HellaSwag-shaped \
            documents (an 80-token context and four 20-token endings) through the engine's \
            log-likelihood scoring, as polycom eval runs them. The same run measures the machine's limits \
            (read bandwidth with the widest loads on all threads started together, the best \
            of 30 reads of 512 MiB, with their median and worst; register FMA rate; OpenBLAS sgemm rate) and reports each result as a fraction of its limit: decode \
            against the bandwidth its weight bytes need, prefill and scoring against sgemm. Timings are \
            medians of --repeats runs; decode also reports its fastest single step, against the read limit's \
            best sample (on a shared machine, the step and the read that had the cores to themselves).
            """)

    @Option(help: "Checkpoint folder.")
    var model: String

    @Option(parsing: .upToNextOption, help: "Prompt lengths for the prefill measurements.")
    var promptTokens: [Int] = [128, 512]

    @Option(help: "Decode steps to time.")
    var decodeTokens = 32

    @Option(parsing: .upToNextOption, help: "Sequence counts decoded together.")
    var batch: [Int] = [1, 8]

    @Option(help: "HellaSwag-shaped documents to score (0: no scoring measurement).")
    var scoringDocs = 4

    @Option(help: "Repetitions (the median is reported).")
    var repeats = 3

    @OptionGroup var compute: ComputeFlags

    @Option(help: "Kernel family: auto, avx512, avx2 or portable (a family the CPU lacks is lowered).")
    var kernels = "auto"

    @Flag(inversion: .prefixedNo, help: "Measure the machine's limits in the same run.")
    var roofline = true

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard KernelFamily(name: kernels) != nil else { throw ValidationError("--kernels: auto, avx512, avx2 or portable, not '\(kernels)'") }
        guard promptTokens.allSatisfy({ $0 > 0 }), batch.allSatisfy({ $0 > 0 }), decodeTokens > 0, repeats > 0, scoringDocs >= 0 else {
            throw ValidationError("token counts, batches and repeats must be positive, --scoring-docs not negative")
        }
    }

    func run() throws {
        let options = compute.options(kernels: KernelFamily(name: kernels)!)
        // The sgemm limit is OpenBLAS on every thread asked for; the model then runs as serve
        // and eval run it (BLASThreads).
        BLAS.threads = options.threads
        // The limits first, so their 512 MiB read buffer is gone before the weights come and
        // the peak RSS reported is the model's.
        let limits = roofline ? Roofline.measure(threads: options.threads) : nil
        var t0 = Date()
        let m = try Architectures.load(path: model, options: options, loading: compute.loading)
        let loadSeconds = Date().timeIntervalSince(t0)
        BLASThreads.set(for: m)
        let vocab = m.config.vocabSize
        var rng = SplitMix64(seed: 1)
        let longest = promptTokens.max()!
        let prompt = (0..<longest).map { _ in Int(rng.next() % UInt64(vocab)) }
        let weightBytes = m.bytesReadPerToken
        // Multiply-adds of the weight matrices (attention's own products not counted): every
        // token goes through the layers up to the last one's attention, the rest of the last
        // layer and the LM head only the rows whose logits are read (DecoderModel.run) — the
        // last prompt token of a prefill; when scoring, each context's last token and each
        // ending's tokens but its last. (Counting the head for every prefill token overstated a
        // 4-layer 1B-shaped prefill's GFLOP/s by 32%.)
        let headFlops = 2.0 * Double(m.config.vocabSize * m.config.hiddenSize)
        func flops(_ counted: (String) -> Bool) -> Double {
            2.0 * Double(m.parameters().reduce(0) { sum, p in
                guard counted(p.name) else { return sum }
                return switch p.access {
                case .whole: sum + p.tensor.count
                case .routed: sum + p.tensor.count * (m.config.numExpertsPerTok ?? 1) / (m.config.numExperts ?? 1)
                case .row: sum
                }
            })
        }
        let lastLayer = "model.layers.\(m.config.numHiddenLayers - 1)."
        let bodyFlops = flops { $0 != "lm_head.weight" }
        let tailFlops = flops { $0 == lastLayer + "self_attn.o_proj.weight" || $0.hasPrefix(lastLayer + "mlp.") }
        /// FLOPs of `positions` tokens of which `rows` get logits.
        func passFlops(positions: Double, rows: Double) -> Double {
            positions * (bodyFlops - tailFlops) + rows * (tailFlops + headFlops)
        }
        func prefillGFLOPs(_ p: (tokens: Int, rate: Double)) -> Double {
            p.rate * passFlops(positions: Double(p.tokens), rows: 1) / Double(p.tokens) / 1e9
        }
        let scoredRowsPerDoc = Double(1 + ScoringBench.endings * (ScoringBench.endingTokens - 1))

        var prefills: [(tokens: Int, rate: Double)] = []
        for T in promptTokens {
            let seconds = median(try (0..<repeats).map { _ in
                let cache = m.makeCache(capacity: T + 1)
                t0 = Date()
                _ = try m.forward([SequenceChunk(cache: cache, tokens: Array(prompt[0..<T]))], logits: .last)
                return Date().timeIntervalSince(t0)
            })
            prefills.append((T, Double(T) / seconds))
        }
        let context = min(longest, 64) // decode after a short prompt, as a chat turn
        // Each step is timed too: the fastest is the step that had the cores to itself, the
        // counterpart of the read limit's best sample on a machine shared with other processes.
        var decodes: [(batch: Int, rate: Double, fastestStepRate: Double)] = []
        for b in batch {
            var fastestStep = Double.infinity
            let seconds = median(try (0..<repeats).map { _ in
                let caches = (0..<b).map { _ in m.makeCache(capacity: context + decodeTokens + 1) }
                for c in caches { _ = try m.forward([SequenceChunk(cache: c, tokens: Array(prompt[0..<context]))], logits: .last) }
                t0 = Date()
                var stepStart = t0
                for step in 0..<decodeTokens {
                    _ = try m.forward(caches.map { SequenceChunk(cache: $0, tokens: [prompt[step % context]]) }, logits: .last)
                    let now = Date()
                    fastestStep = min(fastestStep, now.timeIntervalSince(stepStart))
                    stepStart = now
                }
                return Date().timeIntervalSince(t0)
            })
            decodes.append((b, Double(decodeTokens * b) / seconds, Double(b) / fastestStep))
        }
        // Each repeat scores new documents (seeds 1, 2, ...) on a fresh engine.
        let scoringRuns = scoringDocs == 0 ? [] : try (1...repeats).map {
            try ScoringBench(model: m, documents: scoringDocs).run(seed: UInt64($0))
        }
        let scoring = scoringRuns.isEmpty ? nil : { () -> (docsPerS: Double, tokensPerS: Double, tokensPerDoc: Double, gflops: Double) in
            let docsPerS = Double(scoringDocs) / median(scoringRuns.map(\.seconds))
            let tokensPerDoc = Double(scoringRuns[0].computedTokens) / Double(scoringDocs)
            return (docsPerS, median(scoringRuns.map { Double($0.computedTokens) / $0.seconds }), tokensPerDoc,
                    docsPerS * passFlops(positions: tokensPerDoc, rows: scoredRowsPerDoc) / 1e9)
        }()
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peakRSS = Int(usage.ru_maxrss) * 1024 // kilobytes on Linux

        // Fractions of the limits: decode steps stream the weights once per step (batch 1's
        // roofline); prefill's weight products run at most at sgemm's rate.
        let decodeRoofline = limits.map { $0.readGBPerS * 1e9 / Double(weightBytes) }
        if json {
            var o: [(String, JSONValue)] = [
                ("model", .string(model)), ("decode_tokens", .int(decodeTokens)), ("weight_bytes", .int(weightBytes)),
                ("threads", .int(m.options.threads)), ("blas", .string(BLASCore.name)), ("kernels", .string("\(options.kernels)")),
                ("weights", .string(compute.weights.rawValue)), ("weight_files", .string(compute.mmap ? "mapped" : "copied")),
                ("load_s", .double(loadSeconds)), ("peak_rss_bytes", .int(peakRSS)),
                ("prompt_tokens", .int(prefills[0].tokens)), ("prefill_tokens_per_s", .double(prefills[0].rate)),
                ("batch", .int(decodes[0].batch)), ("decode_tokens_per_s", .double(decodes[0].rate)),
                ("prefill", .array(prefills.map { ["tokens": .int($0.tokens), "tokens_per_s": .double($0.rate),
                                                   "gflop_per_s": .double(prefillGFLOPs($0))] })),
                ("decode", .array(decodes.map { ["batch": .int($0.batch), "tokens_per_s": .double($0.rate),
                                                 "weight_gb_per_s": .double(Double(weightBytes) * $0.rate / Double($0.batch) / 1e9),
                                                 "fastest_step_tokens_per_s": .double($0.fastestStepRate),
                                                 "fastest_step_weight_gb_per_s":
                                                     .double(Double(weightBytes) * $0.fastestStepRate / Double($0.batch) / 1e9)] })),
            ]
            if let scoring {
                o.append(("scoring_docs_per_s", .double(scoring.docsPerS)))
                o.append(("scoring", ["docs": .int(scoringDocs), "context_tokens": .int(ScoringBench.contextTokens),
                                      "endings": .int(ScoringBench.endings), "ending_tokens": .int(ScoringBench.endingTokens),
                                      "computed_tokens_per_doc": .double(scoring.tokensPerDoc),
                                      "computed_tokens_per_s": .double(scoring.tokensPerS),
                                      "gflop_per_s": .double(scoring.gflops)]))
            }
            if let limits {
                o.append(("roofline", ["read_gb_per_s": .double(limits.readGBPerS),
                                       "read_median_gb_per_s": .double(limits.readMedianGBPerS),
                                       "read_worst_gb_per_s": .double(limits.readWorstGBPerS),
                                       "fma_gflop_per_s": .double(limits.fmaGFLOPPerS),
                                       "sgemm_gflop_per_s": .double(limits.sgemmGFLOPPerS)]))
            }
            print(JSONValue.object(JSONObject(o)).serialized())
            return
        }
        print(BLASCore.summary)
        print(MallocHugePages.summary)
        print(String(format: "load     %8.2f s (%@); peak RSS %.2f GB; kernels %@; weights %@ (%.2f GB read per token); %d threads",
                     loadSeconds, compute.mmap ? "files mapped" : "read into 2 MiB pages", Double(peakRSS) / 1e9, "\(options.kernels)",
                     compute.weights.rawValue, Double(weightBytes) / 1e9, m.options.threads))
        if let limits {
            print(String(format: "limits   read %.1f GB/s (all threads, best of %d; median %.1f, worst %.1f), FMA %.0f GFLOP/s, OpenBLAS sgemm %.0f GFLOP/s",
                         limits.readGBPerS, Roofline.readSamples, limits.readMedianGBPerS, limits.readWorstGBPerS, limits.fmaGFLOPPerS,
                         limits.sgemmGFLOPPerS))
        }
        for p in prefills {
            let gflops = prefillGFLOPs(p)
            let share = limits.map { String(format: "; %.0f%% of sgemm", 100 * gflops / $0.sgemmGFLOPPerS) } ?? ""
            print(String(format: "prefill  %8.1f tokens/s  (%d tokens; %.0f GFLOP/s%@)", p.rate, p.tokens, gflops, share))
        }
        for d in decodes {
            let gbs = Double(weightBytes) * d.rate / Double(d.batch) / 1e9
            // Batch 1 against the bandwidth roofline; bigger batches against batch 1 (they reuse each weight).
            let single = decodes.first { $0.batch == 1 }?.rate
            let share = d.batch == 1
                ? decodeRoofline.map { String(format: "; %.0f%% of the %.1f tok/s read roofline", 100 * d.rate / $0, $0) } ?? ""
                : single.map { String(format: "; %.2f× batch 1", d.rate / $0) } ?? ""
            let fastest = Double(weightBytes) * d.fastestStepRate / Double(d.batch) / 1e9
            let fastestShare = limits.map { String(format: ", %.0f%% of the read limit", 100 * fastest / $0.readGBPerS) } ?? ""
            print(String(format: "decode   %8.1f tokens/s  (batch %d, %d steps; weights streamed at %.2f GB/s%@; fastest step %.1f tokens/s, %.2f GB/s%@)",
                         d.rate, d.batch, decodeTokens, gbs, share, d.fastestStepRate, fastest, fastestShare))
        }
        if let scoring {
            let share = limits.map { String(format: "; %.0f%% of sgemm", 100 * scoring.gflops / $0.sgemmGFLOPPerS) } ?? ""
            print(String(format: "scoring  %8.2f docs/s    (%d docs: %d-token context + %d × %d-token endings; %.1f tokens/s computed%@)",
                         scoring.docsPerS, scoringDocs, ScoringBench.contextTokens, ScoringBench.endings,
                         ScoringBench.endingTokens, scoring.tokensPerS, share))
        }
    }
}
