import Foundation
import JSON

/// The `--log-samples` file: one line per scored document, appended and flushed as each
/// finishes (so an interrupted run keeps what it scored), rewritten in task and document
/// order at the end (so the file does not depend on the order documents finished in).
final class SamplesLog {
    let path: String
    /// Samples read back for `--resume`.
    private(set) var previous: [Sample] = []
    private var handle: FileHandle?

    /// `resume`: read the samples already there (a broken last line, from a run killed while
    /// writing it, is dropped with a warning) instead of starting an empty file.
    init(path: String, resume: Bool, warn: (String) -> Void) throws {
        self.path = path
        if resume && FileManager.default.fileExists(atPath: path) {
            let file = try InputFile(path: path)
            for line in file.lines {
                do {
                    previous.append(try Sample(json: try line.value.get()))
                } catch let p as RowProblem {
                    warn("\(path):\(line.number): \(p.reason); that document is scored again")
                } catch {
                    warn("\(path):\(line.number): \(error); that document is scored again")
                }
            }
        }
        try rewrite(previous)
    }

    func append(_ sample: Sample) throws {
        guard let handle else { return }
        try handle.write(contentsOf: Data((sample.json.serialized() + "\n").utf8))
    }

    /// Replaces the file with `samples`, atomically (a rename).
    func rewrite(_ samples: [Sample]) throws {
        try handle?.close()
        handle = nil
        let text = samples.map { $0.json.serialized() + "\n" }.joined()
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle!.seekToEnd()
        } catch {
            throw EvaluationError.unreadable(file: path, reason: "cannot write: \((error as NSError).localizedDescription)")
        }
    }

    func close() {
        try? handle?.close()
        handle = nil
    }
}
