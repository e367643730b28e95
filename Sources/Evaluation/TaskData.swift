import Foundation
import JSON

/// The documents of one task, read from one file: raw dataset rows with Hugging Face
/// field names, or an OLMo request file (told apart by their rows).
public struct TaskData: Sendable {
    public let task: EvalTask
    public let path: String
    public let documents: [Document]
    /// Rows left out, each with file, line and reason (`strict` throws the first instead).
    public let skipped: [EvaluationError]

    /// `limit`: the first `limit` well-formed documents, as lm-eval's `--limit`.
    public init(task: EvalTask, path: String, strict: Bool = false, limit: Int? = nil) throws {
        self.task = task
        self.path = path
        let file = try InputFile(path: path)
        let first = file.lines.lazy.compactMap { try? $0.value.get() }.first
        let rows: [(line: Int, result: Result<Document, RowProblem>)]
        if let first, OLMoRequests.isRequest(first) {
            rows = try OLMoRequests.documents(file, task: task)
        } else {
            rows = file.lines.map { line in
                (line.number, Result {
                    let r = try task.render(try Row(line.value.get()))
                    return Document(task: task, docId: line.number - 1, query: r.query, choices: r.choices, label: r.label)
                }.mapError { $0 as? RowProblem ?? RowProblem("\($0)") })
            }
        }
        var documents: [Document] = [], skipped: [EvaluationError] = []
        for (line, result) in rows {
            if let limit, documents.count >= limit { break }
            switch result {
            case .success(let d): documents.append(d)
            case .failure(let p):
                let error = EvaluationError.malformedRow(file: path, line: line, reason: p.reason)
                if strict { throw error }
                skipped.append(error)
            }
        }
        guard !documents.isEmpty else {
            throw EvaluationError.missingData(task: task.rawValue, reason: "\(path) holds no well-formed \(task.rawValue) documents"
                                              + (skipped.first.map { " (first problem: \($0))" } ?? ""))
        }
        self.documents = documents
        self.skipped = skipped
    }

    /// The file for `task` in `directory`: `<task>.jsonl`, `<task>.jsonl.gz`,
    /// `<task>.requests.jsonl.gz`, or the OLMo package layout `<task>/rc_0shot/requests.jsonl.gz`.
    public static func locate(task: EvalTask, in directory: String) throws -> String {
        let name = task.rawValue
        let candidates = ["\(name).jsonl", "\(name).jsonl.gz", "\(name).requests.jsonl.gz", "\(name)/rc_0shot/requests.jsonl.gz"]
        for c in candidates {
            let path = (directory as NSString).appendingPathComponent(c)
            if FileManager.default.isReadableFile(atPath: path) { return path }
        }
        throw EvaluationError.missingData(task: name, reason: "none of \(candidates.joined(separator: ", ")) in \(directory)")
    }
}
