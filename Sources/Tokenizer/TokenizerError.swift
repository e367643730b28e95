import Foundation

/// Everything that can go wrong while loading a tokenizer. Loading never traps: a bad or
/// unsupported tokenizer.json must be reported to the user, not crash a server.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case fileNotFound(String)
    case malformedJSON(String)
    /// A required field is absent or has the wrong JSON type.
    case missingField(field: String, component: String)
    /// A pipeline component whose `"type"` we do not implement (component kind, type string).
    case unsupported(component: String, type: String)
    case invalidValue(String)

    public var description: String {
        switch self {
        case .fileNotFound(let path): return "tokenizer file not found: \(path)"
        case .malformedJSON(let why): return "malformed tokenizer JSON: \(why)"
        case .missingField(let field, let component): return "tokenizer \(component): missing or mistyped field '\(field)'"
        case .unsupported(let component, let type): return "unsupported tokenizer \(component) type '\(type)'"
        case .invalidValue(let why): return "invalid tokenizer value: \(why)"
        }
    }
}
