import ArgumentParser
import Foundation
import JSON
import Tokenizer

/// A bad input line: reported as "Error: ..." without the usage text ValidationError prints.
private struct InputError: Error, CustomStringConvertible {
    let description: String
}

/// Reads JSON lines from stdin, one result line per input line, flushing as it goes so the
/// commands can sit in a pipeline.
private func forEachJSONLine(_ body: (JSONValue) throws -> JSONValue) throws {
    var lineNumber = 0
    while let line = readLine(strippingNewline: true) {
        lineNumber += 1
        if line.allSatisfy({ $0.isWhitespace }) { continue }
        let value: JSONValue
        do {
            value = try JSONValue.parse(line)
        } catch {
            throw InputError(description: "stdin line \(lineNumber): invalid JSON (\(error))")
        }
        guard value.objectValue != nil else {
            throw InputError(description: "stdin line \(lineNumber): expected a JSON object")
        }
        let output: JSONValue
        do {
            output = try body(value)
        } catch let error as InputError {
            throw InputError(description: "stdin line \(lineNumber): \(error.description)")
        }
        FileHandle.standardOutput.write((output.serialized() + "\n").data(using: .utf8)!)
    }
}

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encode text with a tokenizer.json.",
        discussion: """
            Reads {"text": ...} JSON lines on stdin and writes {"ids": [...]} per line. A \
            tokenizer_config.json next to tokenizer.json applies as in transformers (add_bos_token, \
            add_eos_token, special tokens); offsets are in unicode scalars of the text.
            """)

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
            guard let text = object["text"]?.stringValue else { throw InputError(description: "no \"text\" string") }
            let encoding = tok.encodeWithOffsets(text, addSpecialTokens: addSpecialTokens)
            var line = JSONObject([("ids", .array(encoding.ids.map { .int($0) }))])
            if offsets { line["offsets"] = .array(encoding.offsets.map { [.int($0.start), .int($0.end)] }) }
            return .object(line)
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
            guard let raw = object["ids"]?.arrayValue else { throw InputError(description: "no \"ids\" list") }
            let ids = try raw.map { item -> Int in
                guard case .int(let id) = item else { throw InputError(description: "ids must be integers") }
                return id
            }
            return ["text": .string(tok.decode(ids, skipSpecialTokens: skipSpecialTokens))]
        }
    }
}
