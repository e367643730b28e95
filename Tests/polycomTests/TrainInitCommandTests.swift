import Foundation
import JSON
import Model
import TestSupport
import XCTest

/// `polycom train --init`: a model trained from transformers' random init.
final class TrainInitCommandTests: XCTestCase {
    let demo = repositoryRoot + "/Models/polynorm-demo"
    let data = fixturesDirectory + "/training/train.jsonl"

    /// The demo's config.json with `changes`, written to a temporary file.
    func config(_ changes: [String: JSONValue] = [:]) throws -> String {
        guard case .object(var c) = try JSONValue.parse(String(contentsOfFile: demo + "/config.json", encoding: .utf8)) else {
            XCTFail("config.json is not an object")
            return ""
        }
        for (k, v) in changes { c[k] = v }
        let path = temporaryDirectory() + "/config.json"
        try JSONValue.object(c).serialized().write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func losses(_ out: String) throws -> [Double] {
        try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try JSONValue.parse(String($0))["loss"]!.doubleValue! }
    }

    func run(_ cfg: String, seed: Int, out: String) throws -> RunResult {
        try polycom(["train", "--init", cfg, "--tokenizer", demo, "--init-seed", String(seed), "--data", data, "--out", out,
                     "--seq-len", "32", "--batch-size", "2", "--steps", "3", "--lr", "2e-3", "--no-shuffle", "--threads", "1"])
    }

    func testFromScratchStartsAtUniformLossAndIsSeeded() throws {
        let cfg = try config(), dir = temporaryDirectory()
        let a = try run(cfg, seed: 1, out: dir + "/a"), b = try run(cfg, seed: 1, out: dir + "/b"), c = try run(cfg, seed: 2, out: dir + "/c")
        for r in [a, b, c] { XCTAssertEqual(r.status, 0, r.stderr) }
        let la = try losses(dir + "/a"), lb = try losses(dir + "/b"), lc = try losses(dir + "/c")
        // σ = 0.02 weights give near-zero logits: the first loss is that of a uniform guess.
        XCTAssertEqual(la[0], log(32000), accuracy: 0.1, "first loss \(la)")
        XCTAssertEqual(la, lb, "same seeds, same threads: the same losses")
        XCTAssertNotEqual(la[0], lc[0], "another --init-seed, other weights")
        XCTAssertLessThan(la[2], la[0], "training lowers the loss \(la)")
        let args = try JSONValue.parse(String(contentsOfFile: dir + "/a/training_args.json", encoding: .utf8))
        XCTAssertEqual(args["init"]?.stringValue, cfg)
        XCTAssertEqual(args["init_seed"]?.stringValue, "1")
        XCTAssertEqual(args["model"], .null, "not the deleted step-0 folder")
        let model = try Architectures.load(path: dir + "/a")
        XCTAssertEqual(try model.logits(for: [1, 2, 3]).buffer.array.count, 3 * 32000, "the trained folder loads")
    }

    /// training_args.json is what re-runs the command: relative paths stay relative (the
    /// shipped model's file names the Makefile's .build/demo paths, not one machine's).
    func testTrainingArgumentsKeepPathsAsGiven() throws {
        let dir = temporaryDirectory()
        try FileManager.default.copyItem(atPath: try config(), toPath: dir + "/config.json")
        try FileManager.default.createDirectory(atPath: dir + "/corpus", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: data, toPath: dir + "/corpus/train.jsonl")
        let r = try polycom(["train", "--init", "config.json", "--tokenizer", demo, "--data", "corpus/train.jsonl", "--out", "runs/a",
                             "--seq-len", "32", "--batch-size", "2", "--steps", "1", "--val-fraction", "0.2", "--threads", "1"], directory: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let args = try JSONValue.parse(String(contentsOfFile: dir + "/runs/a/training_args.json", encoding: .utf8))
        XCTAssertEqual(args["init"]?.stringValue, "config.json")
        XCTAssertEqual(args["data"]?.stringValue, "corpus/train.jsonl")
        XCTAssertEqual(args["out"]?.stringValue, "runs/a")
        XCTAssertEqual(args["tokenizer"]?.stringValue, demo)
    }

    func testInitErrorsAreClear() throws {
        let out = temporaryDirectory() + "/run"
        let noTokenizer = try polycom(["train", "--init", try config(), "--data", data, "--out", out])
        XCTAssertNotEqual(noTokenizer.status, 0)
        XCTAssertTrue(noTokenizer.stderr.contains("--init needs --tokenizer"), noTokenizer.stderr)
        let small = try polycom(["train", "--init", try config(["vocab_size": .int(1000)]), "--tokenizer", demo, "--data", data, "--out", out])
        XCTAssertNotEqual(small.status, 0)
        XCTAssertTrue(small.stderr.contains("has 32000 tokens but"), small.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing written")
    }
}
