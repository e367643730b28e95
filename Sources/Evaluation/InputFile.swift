import Foundation
import JSON

/// The lines of a JSON-lines file (`.jsonl`, or gzip-compressed, whatever its name), each
/// parsed on its own so one bad line is reported with its number and the rest still read.
struct InputFile {
    struct Line {
        /// 1-based, for messages; `number - 1` is the document id of raw rows.
        let number: Int
        let value: Result<JSONValue, RowProblem>
    }

    let path: String
    let lines: [Line]

    init(path: String) throws {
        self.path = path
        var data: Data
        do {
            // FileHandle, not Data(contentsOf:): Foundation's whole-file read leaks 4 KB on an
            // empty file (found by tools/fuzz/eval-rows).
            data = try FileHandle(forReadingFrom: URL(fileURLWithPath: path)).readToEnd() ?? Data()
        } catch {
            throw EvaluationError.unreadable(file: path, reason: (error as NSError).localizedDescription)
        }
        if Gzip.isCompressed(data) {
            do { data = try Gzip.decompress(data) } catch { throw EvaluationError.unreadable(file: path, reason: "\(error)") }
        }
        var lines: [Line] = []
        let bytes = [UInt8](data)
        var start = 0, number = 1
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            let text = bytes[start..<end]
            // Blank lines (a trailing newline, a hand-edited file) are not rows.
            if text.contains(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0D) }) {
                let parsed = text.withUnsafeBytes { raw -> Result<JSONValue, RowProblem> in
                    do {
                        return .success(try JSONValue.parse(raw))
                    } catch let e as JSONParseError {
                        return .failure(RowProblem("invalid JSON (column \(e.column): \(e.message))"))
                    } catch {
                        return .failure(RowProblem("invalid JSON (\(error))"))
                    }
                }
                lines.append(Line(number: number, value: parsed))
            }
            start = end + 1
            number += 1
        }
        self.lines = lines
    }
}
