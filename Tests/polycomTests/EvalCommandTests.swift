import Foundation
import JSON
import TestSupport
import XCTest

/// `polycom eval` as a user runs it.
final class EvalCommandTests: XCTestCase {
    let model = repositoryRoot + "/Models/polynorm-demo"
    let data = fixturesDirectory + "/eval"

    func json(_ path: String) throws -> JSONValue { try JSONValue.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))) }

    func testWritesResultsTableAndSamples() throws {
        let dir = temporaryDirectory()
        let r = try polycom(["eval", "--model", model, "--task", "arc_easy,sciq", "--data-dir", data, "--limit", "4",
                             "--output", dir + "/results.json", "--log-samples", dir + "/samples.jsonl"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("| task ") && r.stdout.contains("| arc_easy ") && r.stdout.contains("| sciq "), r.stdout)
        XCTAssertTrue(r.stderr.contains("forward-pass tokens:"), r.stderr)
        let results = try json(dir + "/results.json")
        XCTAssertEqual(results["results"]?["arc_easy"]?["num_docs"], 4)
        XCTAssertNotNil(results["results"]?["sciq"]?["acc_per_byte_stderr"]?.doubleValue)
        XCTAssertEqual(results["config"]?["data"]?["sciq"]?.stringValue, data + "/sciq.jsonl")
        let lines = try String(contentsOfFile: dir + "/samples.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 8)
        XCTAssertEqual(try JSONValue.parse(String(lines[0]))["task"], "arc_easy")
    }

    func testMalformedRowWarnsOrFailsWithStrict() throws {
        let file = temporaryDirectory() + "/arc.jsonl"
        let good = try String(contentsOfFile: data + "/arc_easy.jsonl", encoding: .utf8).split(separator: "\n")[0]
        try Data((good + "\n{\"question\": \"Q?\"}\n").utf8).write(to: URL(fileURLWithPath: file))
        let lenient = try polycom(["eval", "--model", model, "--task", "arc_easy", "--data", file])
        XCTAssertEqual(lenient.status, 0, lenient.stderr)
        XCTAssertTrue(lenient.stderr.contains("skipped \(file):2: missing field 'choices'"), lenient.stderr)
        let strict = try polycom(["eval", "--model", model, "--task", "arc_easy", "--data", file, "--strict"])
        XCTAssertEqual(strict.status, 1)
        XCTAssertTrue(strict.stderr.contains("error: \(file):2: missing field 'choices'"), strict.stderr)
        let unknown = try polycom(["eval", "--model", model, "--task", "mmlu", "--data", file])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("unknown task 'mmlu'"), unknown.stderr)
    }

    /// `--resume` after losing the end of the samples log writes the same results file.
    func testResumeWritesTheSameResultsFile() throws {
        let dir = temporaryDirectory()
        let args = ["eval", "--model", model, "--task", "hellaswag", "--data-dir", data, "--limit", "6",
                    "--log-samples", dir + "/samples.jsonl", "--output", dir + "/results.json"]
        XCTAssertEqual(try polycom(args).status, 0)
        let complete = try Data(contentsOf: URL(fileURLWithPath: dir + "/results.json"))
        let lines = try String(contentsOfFile: dir + "/samples.jsonl", encoding: .utf8).split(separator: "\n")
        try Data((lines[0..<2].joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/samples.jsonl"))
        try FileManager.default.removeItem(atPath: dir + "/results.json")
        let r = try polycom(args + ["--resume"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("resuming: 2 documents already scored"), r.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/results.json")), complete)
        XCTAssertEqual(try String(contentsOfFile: dir + "/samples.jsonl", encoding: .utf8).split(separator: "\n").count, 6)
    }

    /// Ctrl-C: the results of the documents done are written, the run exits 130.
    func testInterruptWritesPartialResults() throws {
        let dir = temporaryDirectory()
        let process = Process()
        process.executableURL = Bundle.main.bundleURL.appendingPathComponent("polycom")
        process.arguments = ["eval", "--model", model, "--task", "hellaswag", "--data", repositoryRoot + "/tools/lm-eval/data/hellaswag.jsonl",
                             "--log-samples", dir + "/samples.jsonl", "--output", dir + "/results.json"]
        process.standardOutput = Pipe()
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date(timeIntervalSinceNow: 120)
        var scored = 0
        while Date() < deadline && process.isRunning && scored < 3 {
            Thread.sleep(forTimeInterval: 0.02)
            scored = ((try? String(contentsOfFile: dir + "/samples.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").count
        }
        XCTAssertTrue(process.isRunning, "1000 documents take longer than three")
        process.interrupt()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 130)
        let results = try json(dir + "/results.json")
        XCTAssertEqual(results["config"]?["interrupted"], true)
        let done = try XCTUnwrap(results["results"]?["hellaswag"]?["num_docs"]?.intValue)
        XCTAssertGreaterThanOrEqual(done, 3)
        XCTAssertLessThan(done, 1000)
        XCTAssertEqual(try String(contentsOfFile: dir + "/samples.jsonl", encoding: .utf8).split(separator: "\n").count, done)
    }
    /// `--bf16-prefill` scores with bf16 activations: each choice within the issue's 0.05 per
    /// token of lm-eval's float32 log-likelihoods (the committed reference), yet not equal to
    /// them (the exact path is within 4e-5: a flag that changed nothing would fail here), and
    /// results.json says how it computed.
    func testBF16PrefillScoresCloseToLMEvalsFloat32() throws {
        let dir = temporaryDirectory()
        let r = try polycom(["eval", "--model", model, "--task", "hellaswag", "--data-dir", data, "--limit", "12",
                             "--bf16-prefill", "--output", dir + "/results.json", "--log-samples", dir + "/samples.jsonl"])
        XCTAssertEqual(r.status, 0, r.stderr)
        try XCTSkipIf(r.stderr.contains("no AVX512-BF16"), "this CPU has no AVX512-BF16 instructions")
        XCTAssertEqual(try json(dir + "/results.json")["config"]?["compute"]?.stringValue, "weights=auto,bf16_prefill=true,threads=\(ProcessInfo.processInfo.activeProcessorCount)")
        let reference = try json(data + "/lm-eval-reference.json")["tasks"]?["hellaswag"]?["docs"]?.arrayValue ?? []
        let lines = try String(contentsOfFile: dir + "/samples.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 12)
        var largest = 0.0
        for (line, doc) in zip(lines, reference) {
            let s = try JSONValue.parse(String(line))
            XCTAssertEqual(s["doc_id"], doc["doc_id"])
            let ours = s["loglikelihoods"]?.arrayValue?.compactMap(\.doubleValue) ?? []
            let theirs = doc["loglikelihoods"]?.arrayValue?.compactMap(\.doubleValue) ?? []
            let tokens = s["num_tokens"]?.arrayValue?.compactMap(\.intValue) ?? []
            XCTAssertEqual(ours.count, 4)
            XCTAssertEqual(theirs.count, 4)
            for (i, (a, b)) in zip(ours, theirs).enumerated() {
                XCTAssertLessThanOrEqual(abs(a - b), 0.05 * Double(tokens[i]), "doc \(doc["doc_id"]!) choice \(i)")
                largest = max(largest, abs(a - b))
            }
        }
        XCTAssertGreaterThan(largest, 1e-4, "bf16 activations change the log-likelihoods")
    }
}
