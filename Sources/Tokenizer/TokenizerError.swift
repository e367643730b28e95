import Foundation

/// Everything that can go wrong while loading a tokenizer. Loading never traps: a bad or
/// unsupported tokenizer.json must be reported to the user, not crash a server.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case fileNotFound(String)
    /// The file exists but cannot be read (permission denied, a directory, ...).
    case unreadable(path: String, reason: String)
    case malformedJSON(String)
    /// A tokenizer.model that is not a readable SentencePiece ModelProto.
    case malformedSentencePiece(String)
    /// A required field is absent or has the wrong JSON type.
    case missingField(field: String, component: String)
    /// A pipeline component whose `"type"` we do not implement (component kind, type string).
    case unsupported(component: String, type: String)
    case invalidValue(String)

    public var description: String {
        switch self {
        case .fileNotFound(let path): return "tokenizer file not found: \(path)"
        case .unreadable(let path, let reason): return "cannot read tokenizer file \(path): \(reason)"
        case .malformedJSON(let why): return "malformed tokenizer JSON: \(why)"
        case .malformedSentencePiece(let why): return "malformed SentencePiece tokenizer.model: \(why)"
        case .missingField(let field, let component): return "tokenizer \(component): missing or mistyped field '\(field)'"
        case .unsupported(let component, let type): return "unsupported tokenizer \(component) type '\(type)'"
        case .invalidValue(let why): return "invalid tokenizer value: \(why)"
        }
    }
}

extension TokenizerError {
    /// strerror's text, lower-cased to sit inside a sentence ("permission denied").
    static func reason(errno code: Int32) -> String {
        String(cString: strerror(code)).lowercased()
    }
}
