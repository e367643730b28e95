import Foundation
import JSON
import Model
import TestSupport
import Tokenizer
import XCTest

/// The shipped default model (Models/polynorm-kjv, trained by `make demo-model`): its
/// held-out perplexity as polycom's inference path scores it equals transformers' on the same
/// BF16 file (tools/demo/heldout_reference.py → Tests/Fixtures/demo/heldout.json).
final class DemoModelTests: XCTestCase {
    let model = repositoryRoot + "/Models/polynorm-kjv"

    func testHeldOutPerplexityMatchesTransformers() throws {
        let ref = try JSONValue.parse(String(contentsOfFile: fixturesDirectory + "/demo/heldout.json", encoding: .utf8))
        let T = ref["seq_len"]!.intValue!
        let tokenizer = try Tokenizer(path: model)
        // The trainer's layout: BOS + text + EOS per line, concatenated, cut into T-token blocks.
        var stream: [Int] = []
        for line in try String(contentsOfFile: fixturesDirectory + "/demo/heldout.jsonl", encoding: .utf8).split(separator: "\n") {
            stream += tokenizer.encode(try JSONValue.parse(String(line))["text"]!.stringValue!, addSpecialTokens: true) + [2]
        }
        let blocks = stream.count / T
        XCTAssertEqual(blocks, ref["blocks"]!.intValue!)
        let m = try Architectures.load(path: model)
        var sum = 0.0, count = 0
        for b in 0..<blocks {
            let tokens = Array(stream[b * T..<(b + 1) * T])
            let logits = try m.logits(for: tokens)
            for t in 0..<T - 1 {
                let row = logits.row(t)
                let top = Double(row.max()!)
                let lse = top + Foundation.log(row.reduce(0.0) { $0 + exp(Double($1) - top) })
                sum += lse - Double(row[tokens[t + 1]])
                count += 1
            }
        }
        XCTAssertEqual(count, ref["targets"]!.intValue!)
        let perplexity = exp(sum / Double(count)), expected = ref["perplexity"]!.doubleValue!
        XCTAssertEqual(perplexity, expected, accuracy: 0.01 * expected, "held-out perplexity, polycom vs transformers")
    }

    /// `polycom serve` (and `make serve`) default to it, and its run's records ship beside it.
    func testIsTheServeDefaultWithItsTrainingRecords() throws {
        let help = try polycom(["serve", "--help"])
        XCTAssertTrue(help.stdout.contains("(default: Models/polynorm-kjv)"), help.stdout)
        let makefile = try String(contentsOfFile: repositoryRoot + "/Makefile", encoding: .utf8)
        XCTAssertTrue(makefile.contains("MODEL ?= Models/polynorm-kjv"))
        for file in ["metrics.jsonl", "loss.svg", "training_args.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: model + "/" + file), file)
        }
        let first = try String(contentsOfFile: model + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").first!
        XCTAssertEqual(try JSONValue.parse(String(first))["loss"]!.doubleValue!, log(4096), accuracy: 0.1, "trained from a random init")
    }
}
