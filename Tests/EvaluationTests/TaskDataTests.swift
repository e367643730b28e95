@testable import Evaluation
import Foundation
import JSON
import TestSupport
import XCTest

/// Reading inputs: raw rows and OLMo request files; every malformed row is reported with
/// its line, skipped by default and fatal with `strict`.
final class TaskDataTests: XCTestCase {
    func reasons(_ d: TaskData) -> [Int: String] {
        Dictionary(uniqueKeysWithValues: d.skipped.map { e -> (Int, String) in
            guard case .malformedRow(_, let line, let reason) = e else { XCTFail("\(e)"); return (0, "") }
            return (line, reason)
        })
    }

    func assertSkipped(_ d: TaskData, _ expected: [Int: String], file: StaticString = #filePath, line: UInt = #line) {
        let got = reasons(d)
        XCTAssertEqual(Set(got.keys), Set(expected.keys), "\(got)", file: file, line: line)
        for (l, phrase) in expected {
            XCTAssertTrue(got[l]?.contains(phrase) ?? false, "line \(l): '\(got[l] ?? "")' does not mention '\(phrase)'", file: file, line: line)
        }
    }

    func testHellaSwagMalformedRows() throws {
        let good = #"{"activity_label": "Roofing", "ctx_a": "A man is on a roof.", "ctx_b": "he", "endings": ["falls.", "sits [title] down.", "waves.", "runs."], "label": "2"}"#
        let path = temporaryFile("hellaswag.jsonl", [
            good,
            #"{"activity_label": "x", "ctx_a": "a", "ctx_b": "b", "endings": ["e1", "e2"]}"#,
            #"{"activity_label": "x", "ctx_a": "a", "ctx_b": "b", "endings": ["e1", "e2"], "label": "7"}"#,
            #"{"activity_label": "x", "ctx_a": "a", "ctx_b": "b", "endings": [], "label": 0}"#,
            #"{"activity_label": "x", "ctx_a": "#,
            "",
            "[1, 2]",
            #"{"activity_label": "x", "ctx_a": "a", "ctx_b": "b", "endings": ["e1", "[step]"], "label": 0}"#,
            #"{"activity_label": "x", "ctx_a": 5, "ctx_b": "b", "endings": ["e1"], "label": 0}"#,
            #"{"activity_label": "x", "ctx_a": "a", "ctx_b": "b", "endings": ["e1", "e2"], "label": "two"}"#,
            good,
        ].joined(separator: "\n") + "\n")
        let d = try TaskData(task: .hellaswag, path: path)
        XCTAssertEqual(d.documents.map(\.docId), [0, 10])
        XCTAssertEqual(d.documents[0].query, "Roofing: A man is on a roof. He")
        XCTAssertEqual(d.documents[0].choices, ["falls.", "sits. down.", "waves.", "runs."])
        XCTAssertEqual(d.documents[0].label, 2)
        assertSkipped(d, [2: "missing field 'label'", 3: "label 7 is out of range for 2 choices", 4: "no choices",
                          5: "invalid JSON", 7: "not an object", 8: "choice 1 is empty", 9: "'ctx_a' is a integer",
                          10: "'label' is not an integer"])
        XCTAssertThrowsError(try TaskData(task: .hellaswag, path: path, strict: true)) {
            XCTAssertEqual($0 as? EvaluationError, .malformedRow(file: path, line: 2, reason: "missing field 'label'"))
        }
        XCTAssertEqual(try TaskData(task: .hellaswag, path: path, limit: 1).documents.count, 1)
        XCTAssertEqual(try TaskData(task: .hellaswag, path: path, limit: 1).skipped.count, 0, "rows past the limit are not read")
    }

    func testARCAndSciQMalformedRows() throws {
        let arc = temporaryFile("arc.jsonl", [
            #"{"question": "Q?", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "E"}"#,
            #"{"question": "Q?", "choices": {"text": ["a", "b"], "label": ["A"]}, "answerKey": "A"}"#,
            #"{"choices": {"text": ["a"], "label": ["A"]}, "answerKey": "A"}"#,
            #"{"question": "Q?", "choices": {"text": [], "label": []}, "answerKey": "A"}"#,
            #"{"question": "Q?", "choices": ["a", "b"], "answerKey": "A"}"#,
            #"{"question": "Q?", "choices": {"text": ["a", "b", "c"], "label": ["1", "2", "3"]}, "answerKey": "3"}"#,
        ].joined(separator: "\n"))
        let a = try TaskData(task: .arcChallenge, path: arc)
        XCTAssertEqual(a.documents.map(\.label), [2])
        XCTAssertEqual(a.documents[0].query, "Question: Q?\nAnswer:")
        assertSkipped(a, [1: "label 'E' (answerKey) is not one of the choice labels", 2: "2 texts but 1 labels",
                          3: "missing field 'question'", 4: "not one of the choice labels", 5: "'choices' is a array"])

        let sciq = temporaryFile("sciq.jsonl", [
            #"{"question": "Q?", "distractor1": "a", "distractor3": "c", "correct_answer": "d", "support": ""}"#,
            #"{"question": "Q?", "distractor1": "a", "distractor2": "b", "distractor3": "c", "correct_answer": "", "support": ""}"#,
            #"{"question": "Q?", "distractor1": "a", "distractor2": "b", "distractor3": "c", "correct_answer": "d", "support": "\n  Facts."}"#,
        ].joined(separator: "\n"))
        let s = try TaskData(task: .sciq, path: sciq)
        XCTAssertEqual(s.documents.map(\.query), ["Facts.\nQuestion: Q?\nAnswer:"])
        XCTAssertEqual(s.documents[0].choices, ["a", "b", "c", "d"])
        XCTAssertEqual(s.documents[0].label, 3)
        assertSkipped(s, [1: "missing field 'distractor2'", 2: "choice 3 is empty"])
    }

    func testAFileWithoutDocumentsIsAnError() {
        let path = temporaryFile("bad.jsonl", "{}\nnot json\n")
        XCTAssertThrowsError(try TaskData(task: .sciq, path: path)) {
            XCTAssertTrue("\($0)".contains("no well-formed sciq documents"), "\($0)")
        }
        XCTAssertThrowsError(try TaskData(task: .sciq, path: "/nonexistent/sciq.jsonl")) {
            guard case .unreadable = $0 as? EvaluationError else { return XCTFail("\($0)") }
        }
    }

    /// tools/fuzz/eval-rows' first find: an empty file holds no documents, and (seen under
    /// `swift test --sanitize=address`) is read without Foundation's 4 KB leak on empty files.
    func testAnEmptyFileHoldsNoDocumentsAndDoesNotLeak() {
        XCTAssertThrowsError(try TaskData(task: .arcEasy, path: temporaryFile("empty.jsonl", ""))) {
            XCTAssertTrue("\($0)".contains("no well-formed arc_easy documents"), "\($0)")
        }
        XCTAssertThrowsError(try TaskData(task: .arcEasy, path: temporaryDirectory())) {
            guard case .unreadable = $0 as? EvaluationError else { return XCTFail("\($0)") }
        }
    }

    /// AI2's own renderings of the same documents (OLMo request files) equal ours:
    /// an independent check of the HellaSwag preprocessing and the ARC template.
    func testOLMoRequestFilesGiveTheSameDocuments() throws {
        for task in EvalTask.allCases {
            let olmo = try TaskData(task: task, path: Demo.data + "/olmo/\(task.rawValue).requests.jsonl.gz")
            let raw = try Demo.task(task)
            XCTAssertEqual(olmo.documents.count, raw.documents.count, task.rawValue)
            XCTAssertTrue(olmo.skipped.isEmpty, "\(olmo.skipped)")
            for (o, r) in zip(olmo.documents, raw.documents) {
                // One known difference: where a WikiHow ending has "sentence. [title] Next",
                // lm-eval (and polycom) render "sentence.. Next", AI2 "sentence. Next".
                let choices = task == .hellaswag ? r.choices.map { $0.replacingOccurrences(of: ".. ", with: ". ") } : r.choices
                XCTAssertEqual(o.choices, choices, "\(task) \(o.docId)")
                XCTAssertEqual(o.label, r.label, "\(task) \(o.docId)")
                XCTAssertEqual(o.delimiter, " ")
                if task == .sciq {
                    // OLMo's SciQ leaves the support passage out.
                    XCTAssertTrue(r.query.hasSuffix(o.query), "\(o.query) / \(r.query)")
                } else {
                    XCTAssertEqual(o.query, r.query, "\(task) \(o.docId)")
                }
            }
        }
    }

    func testMalformedOLMoRequests() throws {
        func request(_ doc: Int, _ idx: Int, context: String = #"Question: Q?\nAnswer:"#, label: Int = 0, task: String = "arc_easy") -> String {
            #"{"request_type": "loglikelihood", "doc": {}, "request": {"context": "\#(context)", "continuation": " c\#(idx)"}, "#
                + #""idx": \#(idx), "task_name": "\#(task)", "doc_id": \#(doc), "native_id": \#(doc), "label": \#(label)}"#
        }
        let path = temporaryFile("olmo.jsonl", [
            request(0, 0), request(0, 1), request(1_000_000, 0, context: "Answer:"),
            request(1, 0), request(1, 2),                      // choice 1 missing
            request(2, 0), request(2, 1, label: 1),            // labels disagree
            request(3, 0, label: 5),                           // label out of range
            request(4, 0), request(4, 1, context: "other"),    // contexts disagree
            #"{"request_type": "loglikelihood", "request": {"context": "x"}, "doc_id": 5, "idx": 0, "label": 0}"#,
        ].joined(separator: "\n"))
        let d = try TaskData(task: .arcEasy, path: path)
        XCTAssertEqual(d.documents.map(\.docId), [0])
        XCTAssertEqual(d.documents[0].choices, ["c0", "c1"])
        assertSkipped(d, [4: "choice numbers [0, 2]", 6: "another label", 8: "label 5 is out of range", 9: "another context",
                          11: "missing field 'continuation'"])
        XCTAssertThrowsError(try TaskData(task: .hellaswag, path: path)) {
            XCTAssertTrue("\($0)".contains("holds arc_easy requests"), "\($0)")
        }
    }

    /// Raw rows compressed (`gzip` made the file): the same documents as the plain file.
    func testGzippedRawRowsReadAsThePlainFile() throws {
        let path = temporaryFile("arc_easy.jsonl.gz")
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/sh")
        gzip.arguments = ["-c", "gzip -c '\(Demo.data)/arc_easy.jsonl' > '\(path)'"]
        try gzip.run()
        gzip.waitUntilExit()
        XCTAssertEqual(gzip.terminationStatus, 0)
        XCTAssertEqual(try TaskData(task: .arcEasy, path: path).documents, try Demo.task(.arcEasy).documents)
    }

    func testCorruptGzipIsReported() throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Demo.data + "/olmo/sciq.requests.jsonl.gz"))
        let path = temporaryFile("cut.jsonl.gz")
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try TaskData(task: .sciq, path: path)) {
            XCTAssertTrue("\($0)".contains("ends in the middle"), "\($0)")
        }
        var flipped = bytes
        flipped[40] ^= 0xFF
        try flipped.write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try TaskData(task: .sciq, path: path)) {
            XCTAssertTrue("\($0)".contains("corrupt gzip") || "\($0)".contains("invalid JSON") || "\($0)".contains("no well-formed"), "\($0)")
        }
    }

    func testLocateFindsEachLayout() throws {
        let dir = temporaryDirectory()
        XCTAssertThrowsError(try TaskData.locate(task: .sciq, in: dir)) {
            XCTAssertTrue("\($0)".contains("sciq.jsonl, sciq.jsonl.gz"), "\($0)")
        }
        try FileManager.default.createDirectory(atPath: dir + "/sciq/rc_0shot", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/sciq/rc_0shot/requests.jsonl.gz", contents: Data())
        XCTAssertEqual(try TaskData.locate(task: .sciq, in: dir), dir + "/sciq/rc_0shot/requests.jsonl.gz")
        FileManager.default.createFile(atPath: dir + "/sciq.jsonl", contents: Data())
        XCTAssertEqual(try TaskData.locate(task: .sciq, in: dir), dir + "/sciq.jsonl")
    }
}
