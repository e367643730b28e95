import Engine
import JSON

/// One scored document: a line of the `--log-samples` file.
public struct Sample: Sendable, Equatable {
    public let task: EvalTask
    public let docId: Int
    public let context: String
    public let choices: [String]
    public let label: Int
    public let results: [ScoredContinuation]
    public let scores: DocumentScores

    public init(document d: Document, results: [ScoredContinuation]) {
        task = d.task
        docId = d.docId
        context = d.context
        choices = d.choices
        label = d.label
        self.results = results
        scores = DocumentScores(document: d, results: results)
    }

    public var json: JSONValue {
        ["doc_id": .int(docId), "task": .string(task.rawValue), "context": .string(context),
         "choices": .array(choices.map { .string($0) }), "label": .int(label),
         "loglikelihoods": .array(results.map { .double($0.logprob) }),
         "is_greedy": .array(results.map { .bool($0.isGreedy) }),
         "num_tokens": .array(results.map { .int($0.numTokens) }),
         "acc": .double(scores.acc), "acc_norm": .double(scores.accNorm),
         "acc_per_token": .double(scores.accPerToken), "acc_per_byte": .double(scores.accPerByte)]
    }

    /// Reads a line written by `json`.
    public init(json v: JSONValue) throws {
        func field<T>(_ key: String, _ get: (JSONValue) -> T?) throws -> T {
            guard let x = v[key], let t = get(x) else { throw RowProblem("missing or mistyped '\(key)'") }
            return t
        }
        func list<T>(_ key: String, _ get: (JSONValue) -> T?) throws -> [T] {
            try field(key) { $0.arrayValue }.map { x in
                guard let t = get(x) else { throw RowProblem("mistyped item in '\(key)'") }
                return t
            }
        }
        guard let task = EvalTask(rawValue: try field("task") { $0.stringValue }) else { throw RowProblem("unknown 'task'") }
        self.task = task
        docId = try field("doc_id") { $0.intValue }
        context = try field("context") { $0.stringValue }
        choices = try list("choices") { $0.stringValue }
        label = try field("label") { $0.intValue }
        let lls = try list("loglikelihoods") { $0.doubleValue }
        let greedy = try list("is_greedy") { $0.boolValue }
        let tokens = try list("num_tokens") { $0.intValue }
        guard lls.count == choices.count, greedy.count == choices.count, tokens.count == choices.count else {
            throw RowProblem("the lists do not all have one entry per choice")
        }
        results = (0..<lls.count).map { ScoredContinuation(logprob: lls[$0], isGreedy: greedy[$0], numTokens: tokens[$0]) }
        scores = DocumentScores(acc: try field("acc") { $0.doubleValue }, accNorm: try field("acc_norm") { $0.doubleValue },
                                accPerToken: try field("acc_per_token") { $0.doubleValue },
                                accPerByte: try field("acc_per_byte") { $0.doubleValue })
    }
}
