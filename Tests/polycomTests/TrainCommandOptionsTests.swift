import Foundation
import JSON
import TestSupport
import Tokenizer
import Training
import XCTest

/// `polycom train`'s schedule, length, validation and memory flags as a user gives them: what
/// the run did (metrics.jsonl, its log, training_args.json) against the recipe's formulas.
final class TrainCommandOptionsTests: XCTestCase {
    let demo = repositoryRoot + "/Models/polynorm-demo"
    let data = fixturesDirectory + "/training/train.jsonl"
    let validation = fixturesDirectory + "/training/prompt-completion.jsonl"

    func metrics(_ out: String) throws -> [JSONValue] {
        try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(String($0)) }
    }

    /// The run's "training … on N examples … (V for validation), S steps" line.
    func counts(_ stderr: String) throws -> (examples: Int, validation: Int, steps: Int) {
        let line = try XCTUnwrap(stderr.split(separator: "\n").first { $0.hasPrefix("training ") }, stderr)
        func number(before word: String) throws -> Int {
            let words = line.split(separator: " ").map(String.init)
            let i = try XCTUnwrap(words.firstIndex(of: word), "'\(word)' in \(line)")
            return try XCTUnwrap(Int(words[i - 1].trimmingCharacters(in: CharacterSet(charactersIn: "("))), String(line))
        }
        return (try number(before: "examples"), try number(before: "for"), try number(before: "steps"))
    }

    /// --epochs sets the step count, --schedule linear / --warmup-steps / --min-lr-ratio the
    /// rates, --val-data replaces the held-out blocks (all blocks train), and --recompute
    /// trains the same model as the stored-activation run.
    func testEpochsLinearScheduleValidationFileAndRecompute() throws {
        let (B, G, epochs, peak, ratio, W) = (2, 2, 1.5, 2e-3, 0.25, 2)
        let flags = ["--seq-len", "32", "--batch-size", "\(B)", "--grad-accum", "\(G)", "--epochs", "\(epochs)", "--lr", "\(peak)",
                     "--schedule", "linear", "--warmup-steps", "\(W)", "--min-lr-ratio", "\(ratio)", "--val-data", validation,
                     "--eval-every", "2", "--beta1", "0.8", "--beta2", "0.99", "--eps", "1e-6", "--weight-decay", "0.05",
                     "--no-shuffle", "--threads", "1"]
        let stored = temporaryDirectory() + "/stored", recomputed = temporaryDirectory() + "/recomputed"
        let a = try polycom(["train", "--model", demo, "--data", data, "--out", stored] + flags)
        XCTAssertEqual(a.status, 0, a.stderr)
        let b = try polycom(["train", "--model", demo, "--data", data, "--out", recomputed, "--recompute"] + flags)
        XCTAssertEqual(b.status, 0, b.stderr)

        let tokenizer = try Tokenizer(path: demo)
        let blocks = try TrainingData(path: data, tokenizer: tokenizer, seqLen: 32, eos: 2, pad: 0).examples.count
        let (examples, held, steps) = try counts(a.stderr)
        XCTAssertEqual(examples, blocks, "--val-data: no block of --data is held out")
        XCTAssertEqual(held, 6, "one validation sequence per prompt/completion line")
        let S = Int((epochs * Double(blocks) / Double(B * G)).rounded(.up))
        XCTAssertEqual(steps, S)

        let lines = try metrics(stored)
        XCTAssertEqual(lines.count, S)
        let lo = peak * ratio
        for (s, line) in lines.enumerated() {
            let expected = s < W ? peak * Double(s + 1) / Double(W) : lo + (peak - lo) * max(0, 1 - Double(s - W) / Double(max(1, S - W)))
            XCTAssertEqual(line["lr"]!.doubleValue!, expected, accuracy: 1e-12 * expected, "step \(s + 1)")
            XCTAssertEqual(line["val_loss"] != nil, (s + 1) % 2 == 0 || s + 1 == S, "val_loss at step \(s + 1)")
        }
        let other = try metrics(recomputed)
        for (x, y) in zip(lines, other) {
            XCTAssertEqual(x["loss"]!.doubleValue!, y["loss"]!.doubleValue!, accuracy: 1e-6 * x["loss"]!.doubleValue!)
            XCTAssertEqual(x["grad_norm"]!.doubleValue!, y["grad_norm"]!.doubleValue!, accuracy: 1e-5 * x["grad_norm"]!.doubleValue!)
        }
        XCTAssertEqual(try counts(b.stderr).steps, S)
        let args = try JSONValue.parse(String(contentsOfFile: stored + "/training_args.json", encoding: .utf8))
        for (key, value) in [("beta1", 0.8), ("beta2", 0.99), ("eps", 1e-6), ("weight_decay", 0.05), ("epochs", epochs),
                             ("min_lr_ratio", ratio)] {
            XCTAssertEqual(args[key]?.doubleValue, value, key)
        }
        XCTAssertEqual(args["schedule"]?.stringValue, "linear")
        XCTAssertEqual(args["val_data"]?.stringValue, validation)
    }

    /// The estimate is printed first; a run whose estimate exceeds the machine (a batch of
    /// 10^8 sequences needs petabytes of activations) is refused before anything is written.
    func testARunThatDoesNotFitIsRefusedWithTheEstimate() throws {
        let out = temporaryDirectory() + "/run"
        let r = try polycom(["train", "--model", demo, "--data", data, "--out", out, "--seq-len", "32", "--batch-size", "100000000"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("estimated peak memory"), r.stderr)
        XCTAssertTrue(r.stderr.contains("exceeds this machine's"), r.stderr)
        XCTAssertTrue(r.stderr.contains("--recompute cuts activation memory"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    /// Off a terminal the progress bar is a plain line per report: step, loss (the step's
    /// metrics.jsonl loss), lr, tokens/s and ETA. The default --val-fraction 0.05 holds out
    /// ⌈0.05 · blocks⌉ blocks.
    func testProgressLinesShowStepLossRateSpeedAndETA() throws {
        let out = temporaryDirectory() + "/run"
        let r = try polycom(["train", "--model", demo, "--data", data, "--out", out, "--seq-len", "32", "--steps", "2",
                             "--lr", "1e-3", "--warmup-steps", "2", "--threads", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let last = try XCTUnwrap(r.stderr.split(separator: "\n").first { $0.hasPrefix("step 2/2 [") }, r.stderr)
        let loss = try XCTUnwrap(metrics(out).last?["loss"]?.doubleValue)
        XCTAssertTrue(last.contains(String(format: "loss %.4f lr 1.00e-03 ", loss)), String(last))
        XCTAssertTrue(last.contains(" tok/s ETA "), String(last))
        let blocks = try TrainingData(path: data, tokenizer: try Tokenizer(path: demo), seqLen: 32, eos: 2, pad: 0).examples.count
        let (examples, held, _) = try counts(r.stderr)
        XCTAssertEqual(held, Int((0.05 * Double(blocks)).rounded(.up)))
        XCTAssertEqual(examples, blocks - held)
    }
}
