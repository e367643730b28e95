import ArgumentParser
import Foundation
import Tokenizer

/// Reads JSON lines from stdin, one result line per input line, flushing as it goes so the
/// commands can sit in a pipeline.
private func forEachJSONLine(_ body: ([String: Any]) throws -> String) throws {
    var lineNumber = 0
    while let line = readLine(strippingNewline: true) {
        lineNumber += 1
        if line.allSatisfy({ $0.isWhitespace }) { continue }
        let value: Any
        do {
            value = try TokenizerJSON.parse(Data(line.utf8))
        } catch {
            throw ValidationError("stdin line \(lineNumber): \(error)")
        }
        guard let object = value as? [String: Any] else {
            throw ValidationError("stdin line \(lineNumber): expected a JSON object")
        }
        let output = try body(object)
        FileHandle.standardOutput.write((output + "\n").data(using: .utf8)!)
    }
}

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encode text with a tokenizer.json.",
        discussion: "Reads {\"text\": ...} JSON lines on stdin and writes {\"ids\": [...]} per line.")

    @Option(help: "tokenizer.json, or a model folder containing one.")
    var tokenizer: String

    @Flag(help: "Add the special tokens of the post-processor template (e.g. BOS).")
    var addSpecialTokens = false

    @Flag(help: "JSON lines in and out (the only format).")
    var jsonl = false

    @Flag(help: "Also write \"offsets\": [[start, end], ...] in unicode scalars of the text.")
    var offsets = false

    func validate() throws {
        guard jsonl else { throw ValidationError("--jsonl is required (JSON lines is the only format)") }
    }

    func run() throws {
        let tok = try Tokenizer(path: tokenizer)
        try forEachJSONLine { object in
            guard let text = object["text"] as? String else { throw ValidationError("line without a \"text\" string") }
            let encoding = tok.encodeWithOffsets(text, addSpecialTokens: addSpecialTokens)
            var line = "{\"ids\": [" + encoding.ids.map(String.init).joined(separator: ", ") + "]"
            if offsets {
                line += ", \"offsets\": [" + encoding.offsets.map { "[\($0.start), \($0.end)]" }.joined(separator: ", ") + "]"
            }
            return line + "}"
        }
    }
}

struct Detokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode token ids with a tokenizer.json.",
        discussion: "Reads {\"ids\": [...]} JSON lines on stdin and writes {\"text\": ...} per line.")

    @Option(help: "tokenizer.json, or a model folder containing one.")
    var tokenizer: String

    @Flag(help: "Leave out special tokens (BOS, EOS, padding).")
    var skipSpecialTokens = false

    @Flag(help: "JSON lines in and out (the only format).")
    var jsonl = false

    func validate() throws {
        guard jsonl else { throw ValidationError("--jsonl is required (JSON lines is the only format)") }
    }

    func run() throws {
        let tok = try Tokenizer(path: tokenizer)
        try forEachJSONLine { object in
            guard let raw = object["ids"] as? [Any] else { throw ValidationError("line without an \"ids\" list") }
            let ids = try raw.map { item -> Int in
                guard let id = item as? Int else { throw ValidationError("ids must be integers") }
                return id
            }
            return "{\"text\": " + TokenizerJSON.quote(tok.decode(ids, skipSpecialTokens: skipSpecialTokens)) + "}"
        }
    }
}
