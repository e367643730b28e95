/// What can go wrong in an evaluation, with where it went wrong.
public enum EvaluationError: Error, CustomStringConvertible, Equatable {
    /// A row of an input file that is not a document of its task (`line` is 1-based).
    case malformedRow(file: String, line: Int, reason: String)
    case unreadable(file: String, reason: String)
    case unknownTask(String)
    case missingData(task: String, reason: String)
    case invalidOption(String)
    /// A document the model cannot score (a choice longer than the context window, ...).
    case unscorable(task: String, docId: Int, reason: String)
    /// Every server failed; the reasons per server.
    case serversFailed([String])
    /// A server refused a request as invalid (not worth retrying elsewhere).
    case serverRefused(server: String, message: String)
    case scoring(String)

    public var description: String {
        switch self {
        case .malformedRow(let file, let line, let reason): return "\(file):\(line): \(reason)"
        case .unreadable(let file, let reason): return "cannot read \(file): \(reason)"
        case .unknownTask(let t): return "unknown task '\(t)' (known: \(EvalTask.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .missingData(let task, let reason): return "no data for \(task): \(reason)"
        case .invalidOption(let m): return m
        case .unscorable(let task, let docId, let reason): return "\(task) doc \(docId): \(reason)"
        case .serversFailed(let reasons): return "every server failed:\n  " + reasons.joined(separator: "\n  ")
        case .serverRefused(let server, let message): return "\(server) refused the request: \(message)"
        case .scoring(let m): return m
        }
    }
}
