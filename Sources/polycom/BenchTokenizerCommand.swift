import ArgumentParser
import Foundation
import JSON
import Tokenizer

/// `polycom bench tokenizer`: encode throughput of the Swift tokenizer and, in the same run
/// on the same texts, of Hugging Face `tokenizers` (single thread, one text per call).
struct BenchTokenizer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Measure tokenizer encode throughput (MB/s), Swift vs HF tokenizers.",
        discussion: """
            Steady-state MB/s is the headline (both sides' word caches warm, as in a long-running \
            server); the first, cold-cache pass is reported too. The corpus is a .jsonl file of {"text": ...} lines, or any other text file split into \
            documents at blank lines. Without --corpus, Tests/Fixtures/tokenizers/corpus.jsonl is used \
            when run from the repository root, else a built-in sample. Both sides read tokenizer.json \
            alone and are timed for at least --seconds after the first pass.
            """)

    @Option(help: "tokenizer.json, or a model folder containing one.")
    var tokenizer: String

    @Option(help: "Corpus file (.jsonl of {\"text\": ...}, or plain text split at blank lines).")
    var corpus: String?

    @Option(help: "Minimum timed seconds per side.")
    var seconds: Double = 3

    @Flag(help: "Add special tokens while encoding.")
    var addSpecialTokens = false

    @Flag(help: "Skip the Python / HF tokenizers measurement.")
    var noPython = false

    @Option(help: "Python interpreter with the `tokenizers` package.")
    var python = "python3"

    func run() throws {
        let texts = try loadCorpus()
        let bytes = texts.reduce(0) { $0 + $1.utf8.count }
        // Both sides read tokenizer.json alone (no tokenizer_config.json), so ids must agree.
        let file = tokenizerFile()
        guard let json = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
        let loadStart = Date()
        let tok = try Tokenizer(tokenizerJSON: json)
        let loadSeconds = Date().timeIntervalSince(loadStart)
        print("corpus: \(texts.count) texts, \(String(format: "%.2f", Double(bytes) / 1e6)) MB; tokenizer loaded in \(String(format: "%.2f", loadSeconds)) s")

        var tokens = 0, idSum = 0
        let coldStart = Date()
        for text in texts {  // first pass: cold word cache, and the checksum both sides must agree on
            let ids = tok.encode(text, addSpecialTokens: addSpecialTokens)
            tokens += ids.count
            idSum += ids.reduce(0, +)
        }
        let coldMBps = Double(bytes) / 1e6 / Date().timeIntervalSince(coldStart)
        var passes = 0
        let start = Date()
        repeat {
            for text in texts { _ = tok.encode(text, addSpecialTokens: addSpecialTokens) }
            passes += 1
        } while Date().timeIntervalSince(start) < seconds
        let swiftSeconds = Date().timeIntervalSince(start)
        let swiftMBps = Double(bytes * passes) / 1e6 / swiftSeconds
        print(String(format: "swift: %.2f MB/s (%d passes, %ld tokens per pass, id sum %ld); first pass %.2f MB/s",
                     swiftMBps, passes, tokens, idSum, coldMBps))

        guard !noPython else { return }
        guard let hf = try runPython(texts) else { return }
        print(String(format: "hf tokenizers (1 thread): %.2f MB/s (%d passes, %ld tokens per pass, id sum %ld); first pass %.2f MB/s",
                     hf.mbps, hf.passes, hf.tokens, hf.idSum, hf.coldMBps))
        print(String(format: "swift / hf: %.2fx; ids %@", swiftMBps / hf.mbps,
                     hf.tokens == tokens && hf.idSum == idSum ? "agree (token count and id sum)" : "DIFFER"))
    }

    private func loadCorpus() throws -> [String] {
        var path = corpus
        if path == nil, FileManager.default.fileExists(atPath: Self.fixtureCorpus) { path = Self.fixtureCorpus }
        guard let path else { return Self.builtInCorpus() }
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
        if path.hasSuffix(".jsonl") {
            return try data.split(separator: UInt8(ascii: "\n")).compactMap { line in
                try JSONValue.parse([UInt8](line))["text"]?.stringValue
            }
        }
        let text = String(decoding: data, as: UTF8.self)
        return text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
    }

    private static let fixtureCorpus = "Tests/Fixtures/tokenizers/corpus.jsonl"

    /// ~1 MB of mixed prose, evaluation prompts, code, numbers and non-Latin text.
    private static func builtInCorpus() -> [String] {
        let samples = [
            "The committee met on Tuesday to review the proposal. After a long discussion, members agreed that the budget for 2024 would rise by 3.5%, mostly to cover maintenance of the older buildings. \"We can't keep postponing repairs,\" said the chair.",
            "Question: Which of these would most likely be found in a desert?\nAnswer: a cactus",
            "A man is standing on a ladder next to a house. He reaches up and begins scraping old paint off the window frame, then wipes it down with a cloth.",
            "def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\nprint([fibonacci(i) for i in range(10)])\n",
            "Les élèves ont étudié la photosynthèse : les plantes transforment l'énergie lumineuse en énergie chimique. Über 80 % der Teilnehmer waren zufrieden.",
            "東京は日本の首都です。人口は約1400万人で、世界でも有数の大都市です。 서울은 한국의 수도입니다.",
            "Results: accuracy 71.3 ± 0.4 (n = 10,042); latency p50 = 12 ms, p99 = 48 ms.   See table 3 — and the appendix.",
            "Emoji and symbols: 😀 👍🏽 👨‍👩‍👧 → ∑ ∞ ≠ ≤ ½ ²",
        ]
        var texts: [String] = []
        var total = 0, i = 0
        while total < 1_000_000 {
            let text = samples[i % samples.count] + " (\(i))"
            texts.append(text)
            total += text.utf8.count
            i += 1
        }
        return texts
    }

    private struct HFResult { let mbps: Double; let passes: Int; let tokens: Int; let idSum: Int; let coldMBps: Double }

    private static let pythonScript = """
        import json, os, sys, time
        os.environ["RAYON_NUM_THREADS"] = "1"
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        from tokenizers import Tokenizer
        path, corpus, seconds, special = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4] == "1"
        tok = Tokenizer.from_file(path)
        texts = [json.loads(l)["text"] for l in open(corpus, encoding="utf-8")]
        nbytes = sum(len(t.encode("utf-8")) for t in texts)
        tokens = ids_sum = 0
        cold = time.perf_counter()
        for t in texts:
            ids = tok.encode(t, add_special_tokens=special).ids
            tokens += len(ids); ids_sum += sum(ids)
        cold = nbytes / 1e6 / (time.perf_counter() - cold)
        passes = 0
        start = time.perf_counter()
        while True:
            for t in texts:
                tok.encode(t, add_special_tokens=special)
            passes += 1
            if time.perf_counter() - start >= seconds:
                break
        elapsed = time.perf_counter() - start
        print(json.dumps({"mbps": nbytes * passes / 1e6 / elapsed, "passes": passes, "tokens": tokens, "id_sum": ids_sum,
                          "cold_mbps": cold}))
        """

    /// Runs HF tokenizers on the same texts; nil (with a note) when python3 or the package is missing.
    private func tokenizerFile() -> String {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: tokenizer, isDirectory: &isDirectory)
        return isDirectory.boolValue ? (tokenizer as NSString).appendingPathComponent("tokenizer.json") : tokenizer
    }

    private func runPython(_ texts: [String]) throws -> HFResult? {
        let tokenizerFile = tokenizerFile()
        let corpusFile = FileManager.default.temporaryDirectory.appendingPathComponent("polycom-bench-\(getpid()).jsonl")
        defer { try? FileManager.default.removeItem(at: corpusFile) }
        let lines = texts.map { (["text": .string($0)] as JSONValue).serialized() + "\n" }.joined()
        try Data(lines.utf8).write(to: corpusFile)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "-c", Self.pythonScript, tokenizerFile, corpusFile.path, String(seconds), addSpecialTokens ? "1" : "0"]
        var environment = ProcessInfo.processInfo.environment
        environment["RAYON_NUM_THREADS"] = "1"
        environment["TOKENIZERS_PARALLELISM"] = "false"
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch {
            print("hf tokenizers: not measured (\(python) not runnable: \(error))")
            return nil
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let line = String(decoding: outData, as: UTF8.self).split(separator: "\n").last,
              let result = try? JSONValue.parse(String(line)),
              let mbps = result["mbps"]?.doubleValue, let passes = result["passes"]?.intValue,
              let tokens = result["tokens"]?.intValue, let idSum = result["id_sum"]?.intValue,
              let cold = result["cold_mbps"]?.doubleValue
        else {
            let why = String(decoding: errData, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? "no output"
            print("hf tokenizers: not measured (\(why))")
            return nil
        }
        return HFResult(mbps: mbps, passes: passes, tokens: tokens, idSum: idSum, coldMBps: cold)
    }
}
