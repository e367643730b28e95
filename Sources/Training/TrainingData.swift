import Foundation
import JSON
import Tokenizer

/// JSONL training data, tokenized into examples of `seqLen` tokens.
///
/// `{"text": ...}` lines: each encoded with the tokenizer's special tokens (BOS where it
/// adds one), `eos` appended unless already last, all lines concatenated in file order and
/// cut into consecutive blocks (Hugging Face run_clm grouping; the remainder dropped).
/// Position t predicts token t + 1: T − 1 targets per block.
/// `{"prompt", "completion"}` lines: one sequence each, prompt with special tokens,
/// completion without, then `eos`; truncated or right-padded with `pad` to T tokens; loss
/// on the completion tokens only.
public struct TrainingData {
    public enum Format: String, Sendable { case text, promptCompletion = "prompt/completion" }

    public let examples: [Example]
    public let format: Format
    /// Tokens the file encoded to (before grouping).
    public let tokenCount: Int

    public init(path: String, tokenizer: Tokenizer, seqLen T: Int, eos: Int?, pad: Int) throws {
        // FileHandle, not FileManager.contents: Foundation's whole-file read leaks 4 KB on an
        // empty file (found by tools/fuzz/training-data).
        guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.readToEnd() ?? Data() else {
            throw TrainingError.invalidData("cannot read data file \(path)")
        }
        var format: Format?
        var stream: [Int32] = []
        var examples: [Example] = []
        var lineNumber = 0
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0.isWhitespace }) { continue }
            func fail(_ why: String) -> TrainingError { .invalidData("\(path) line \(lineNumber): \(why)") }
            let value: JSONValue
            do { value = try JSONValue.parse(String(line)) } catch { throw fail("not valid JSON (\(error))") }
            let lineFormat: Format
            if let text = value["text"]?.stringValue {
                lineFormat = .text
                var ids = tokenizer.encode(text, addSpecialTokens: true)
                if let eos, ids.last != eos { ids.append(eos) }
                stream += ids.map(Int32.init)
            } else if let prompt = value["prompt"]?.stringValue, let completion = value["completion"]?.stringValue {
                lineFormat = .promptCompletion
                let p = tokenizer.encode(prompt, addSpecialTokens: true)
                var c = tokenizer.encode(completion, addSpecialTokens: false)
                if let eos, c.last != eos { c.append(eos) }
                stream += (p + c).map(Int32.init)
                examples.append(Self.sequence(prompt: p, completion: c, seqLen: T, pad: pad))
            } else {
                throw fail("expected an object with a \"text\" string, or \"prompt\" and \"completion\" strings")
            }
            if let f = format, f != lineFormat {
                throw fail("\(lineFormat.rawValue) line in a \(f.rawValue) file (one kind per file)")
            }
            format = lineFormat
        }
        guard let format else { throw TrainingError.invalidData("\(path) holds no data lines") }
        if format == .text {
            guard stream.count >= T else {
                throw TrainingError.invalidData("\(path) encodes to \(stream.count) tokens, fewer than one block of --seq-len \(T)")
            }
            examples = stride(from: 0, through: stream.count - T, by: T).map { start in
                let block = Array(stream[start..<start + T])
                return Example(tokens: block, targets: Array(block.dropFirst()) + [-100])
            }
        }
        self.examples = examples
        self.format = format
        tokenCount = stream.count
    }

    /// Prompt and completion in one sequence of T tokens; targets only where the next token
    /// belongs to the completion.
    static func sequence(prompt: [Int], completion: [Int], seqLen T: Int, pad: Int) -> Example {
        let all = Array((prompt + completion).prefix(T))
        var tokens = all.map(Int32.init), targets = [Int32](repeating: -100, count: T)
        for t in 0..<max(0, all.count - 1) where t + 1 >= prompt.count { targets[t] = Int32(all[t + 1]) }
        tokens += Array(repeating: Int32(pad), count: T - all.count)
        return Example(tokens: tokens, targets: targets)
    }
}
