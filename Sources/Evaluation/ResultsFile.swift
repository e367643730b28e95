import Foundation
import JSON

/// `results.json`: per task the four accuracies with their standard errors and the
/// document count, and the settings that produced them. Nothing in it depends on how the
/// run was spread (servers, threads, resumed or not), so equal settings give equal bytes.
public struct ResultsFile {
    public static let version = "polycom-eval 1"

    public struct Config: Sendable {
        public var model: String
        public var data: [(task: EvalTask, path: String)]
        public var limit: Int?
        public var numFewshot: Int
        public var fewshotSeed: UInt64
        public var fewshotData: [(task: EvalTask, path: String)]
        public var maxLength: Int
        public var addBOSToken: Bool
        /// How an in-process model computed (weights, bf16 dot products, threads); nil when
        /// servers scored.
        public var compute: String?
        public init(model: String, data: [(task: EvalTask, path: String)], limit: Int?, numFewshot: Int, fewshotSeed: UInt64,
                    fewshotData: [(task: EvalTask, path: String)], maxLength: Int, addBOSToken: Bool, compute: String? = nil) {
            self.model = model
            self.data = data
            self.limit = limit
            self.numFewshot = numFewshot
            self.fewshotSeed = fewshotSeed
            self.fewshotData = fewshotData
            self.maxLength = maxLength
            self.addBOSToken = addBOSToken
            self.compute = compute
        }
    }

    public let outcome: EvaluationOutcome
    public let config: Config

    public init(outcome: EvaluationOutcome, config: Config) {
        self.outcome = outcome
        self.config = config
    }

    public var json: JSONValue {
        var results = JSONObject()
        for (task, s) in outcome.scores {
            var r = JSONObject()
            for (name, m) in zip(TaskScores.names, s.metrics) {
                r[name] = .double(m.mean)
                r[name + "_stderr"] = m.stderr.map { .double($0) } ?? .null
            }
            r["num_docs"] = .int(s.numDocs)
            results[task.rawValue] = .object(r)
        }
        let paths = { (list: [(task: EvalTask, path: String)]) in
            JSONValue.object(JSONObject(list.map { ($0.task.rawValue, .string($0.path)) }))
        }
        var c = JSONObject([
            ("model", .string(config.model)),
            ("tasks", .array(outcome.scores.map { .string($0.task.rawValue) })),
            ("data", paths(config.data)),
            ("limit", config.limit.map { .int($0) } ?? .null),
            ("num_fewshot", .int(config.numFewshot)),
            ("fewshot_seed", .int(Int(truncatingIfNeeded: config.fewshotSeed))),
            ("fewshot_data", paths(config.fewshotData)),
            ("max_length", .int(config.maxLength)),
            ("add_bos_token", .bool(config.addBOSToken)),
            ("skipped_docs", .object(JSONObject(outcome.scores.map { ($0.task.rawValue, .int(outcome.skipped[$0.task] ?? 0)) }))),
            ("version", .string(Self.version)),
        ])
        if let compute = config.compute { c["compute"] = .string(compute) }
        if outcome.interrupted { c["interrupted"] = true }
        return ["results": .object(results), "config": .object(c)]
    }

    public func write(to path: String) throws {
        do {
            try Data((json.serialized(pretty: true) + "\n").utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw EvaluationError.unreadable(file: path, reason: "cannot write: \((error as NSError).localizedDescription)")
        }
    }

    /// The table printed at the end: one row per task, mean ± standard error in percent.
    public var table: String {
        let header = ["task", "docs"] + TaskScores.names
        let rows = outcome.scores.map { task, s in
            [task.rawValue, String(s.numDocs)] + s.metrics.map { m in
                String(format: "%.2f", 100 * m.mean) + (m.stderr.map { String(format: " ± %.2f", 100 * $0) } ?? "")
            }
        }
        let widths = header.indices.map { i in ([header] + rows).map { $0[i].count }.max()! }
        let line = { (cells: [String]) in
            "| " + cells.enumerated().map { i, c in
                i < 2 ? c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[i] - c.count) + c
            }.joined(separator: " | ") + " |"
        }
        let rule = "|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|"
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n")
    }
}

/// The progress line on stderr: documents done of all, documents and tokens per second,
/// time left at the current rate.
public enum ProgressLine {
    public static func render(_ p: EvaluationProgress) -> String {
        let rate = p.seconds > 0 ? Double(p.done) / p.seconds : 0
        let tokens = p.seconds > 0 ? Double(p.tokens) / p.seconds : 0
        let width = 24, filled = p.total > 0 ? width * p.done / p.total : width
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let eta = rate > 0 ? clock(Double(p.total - p.done) / rate) : "--:--"
        return String(format: "[%@] %d/%d docs  %.1f docs/s  %.0f tok/s  ETA %@", bar, p.done, p.total, rate, tokens, eta)
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
