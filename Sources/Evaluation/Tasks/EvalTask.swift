import Foundation
import JSON

/// The benchmarks `polycom eval` scores; raw values are lm-evaluation-harness's task names.
public enum EvalTask: String, CaseIterable, Sendable, Comparable {
    case hellaswag
    case arcEasy = "arc_easy"
    case arcChallenge = "arc_challenge"
    case sciq

    public static func < (a: EvalTask, b: EvalTask) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    public init(name: String) throws {
        guard let t = EvalTask(rawValue: name.trimmingCharacters(in: .whitespaces)) else { throw EvaluationError.unknownTask(name) }
        self = t
    }

    /// Renders a raw dataset row (Hugging Face field names).
    func render(_ row: Row) throws -> RenderedRow {
        switch self {
        case .hellaswag: return try HellaSwag.render(row)
        case .arcEasy, .arcChallenge: return try ARC.render(row)
        case .sciq: return try SciQ.render(row)
        }
    }
}

/// A JSON object row with typed field access; errors name the field.
struct Row {
    let object: JSONObject

    init(_ value: JSONValue) throws {
        guard let o = value.objectValue else { throw RowProblem("the row is a JSON \(value.typeName), not an object") }
        object = o
    }

    func value(_ key: String) throws -> JSONValue {
        guard let v = object[key], !v.isNull else { throw RowProblem("missing field '\(key)'") }
        return v
    }

    func string(_ key: String) throws -> String {
        let v = try value(key)
        guard let s = v.stringValue else { throw RowProblem("field '\(key)' is a \(v.typeName), not a string") }
        return s
    }

    func strings(_ key: String) throws -> [String] {
        let v = try value(key)
        guard let list = v.arrayValue else { throw RowProblem("field '\(key)' is a \(v.typeName), not a list") }
        return try list.enumerated().map { i, item in
            guard let s = item.stringValue else { throw RowProblem("\(key)[\(i)] is a \(item.typeName), not a string") }
            return s
        }
    }

    func row(_ key: String) throws -> Row {
        let v = try value(key)
        guard v.objectValue != nil else { throw RowProblem("field '\(key)' is a \(v.typeName), not an object") }
        return try Row(v)
    }

    /// An integer given as a number or as a string of digits (HellaSwag's "label": "3").
    func integer(_ key: String) throws -> Int {
        let v = try value(key)
        if let i = v.intValue { return i }
        if let s = v.stringValue, let i = Int(s) { return i }
        throw RowProblem("field '\(key)' is not an integer (\(v.serialized()))")
    }
}

/// Why a row is not a document; the loader adds file and line.
struct RowProblem: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// Checks shared by every task: choices present and non-empty, label in range.
func validated(query: String, choices: [String], label: Int) throws -> RenderedRow {
    guard !choices.isEmpty else { throw RowProblem("the document has no choices") }
    if let empty = choices.firstIndex(where: \.isEmpty) { throw RowProblem("choice \(empty) is empty") }
    guard choices.indices.contains(label) else {
        throw RowProblem("label \(label) is out of range for \(choices.count) choices")
    }
    return RenderedRow(query: query, choices: choices, label: label)
}
