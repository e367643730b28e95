import Foundation
import TestSupport
import Tokenizer
@testable import Training
import XCTest

final class TrainingDataTests: XCTestCase {
    let tokenizer = try! Tokenizer(path: repositoryRoot + "/Models/polynorm-demo")

    func write(_ lines: [String]) -> String {
        let path = temporaryDirectory() + "/data.jsonl"
        _ = FileManager.default.createFile(atPath: path, contents: lines.joined(separator: "\n").data(using: .utf8))
        return path
    }

    /// run_clm grouping: BOS + text + EOS per line, concatenated, cut into blocks, remainder dropped.
    func testTextLinesAreConcatenatedIntoBlocksWithShiftedTargets() throws {
        let texts = ["Hello world", "The capital of France is Paris", "A cat"]
        let d = try TrainingData(path: write(texts.map { "{\"text\": \"\($0)\"}" }), tokenizer: tokenizer, seqLen: 5, eos: 2, pad: 0)
        let stream = texts.flatMap { tokenizer.encode($0, addSpecialTokens: true) + [2] }.map(Int32.init)
        XCTAssertEqual(d.tokenCount, stream.count)
        XCTAssertEqual(d.examples.count, stream.count / 5)
        for (i, e) in d.examples.enumerated() {
            XCTAssertEqual(e.tokens, Array(stream[i * 5..<(i + 1) * 5]))
            XCTAssertEqual(e.targets, Array(stream[i * 5 + 1..<(i + 1) * 5]) + [-100])
        }
        XCTAssertEqual(stream.first, 1, "BOS from the tokenizer")
    }

    /// Loss only where the next token is a completion token; padding ignored.
    func testPromptCompletionMasksThePromptAndPadding() throws {
        let d = try TrainingData(path: write(["{\"prompt\": \"Question\", \"completion\": \" Answer here\"}"]),
                                 tokenizer: tokenizer, seqLen: 12, eos: 2, pad: 0)
        let p = tokenizer.encode("Question", addSpecialTokens: true), c = tokenizer.encode(" Answer here", addSpecialTokens: false) + [2]
        let e = try XCTUnwrap(d.examples.first)
        XCTAssertEqual(e.tokens, (p + c).map(Int32.init) + Array(repeating: 0, count: 12 - p.count - c.count))
        var expected = [Int32](repeating: -100, count: 12)
        for t in (p.count - 1)..<(p.count + c.count - 1) { expected[t] = Int32((p + c)[t + 1]) }
        XCTAssertEqual(e.targets, expected)
        XCTAssertEqual(e.targetCount, c.count)
        let truncated = TrainingData.sequence(prompt: [1, 5, 6], completion: [7, 8, 9, 2], seqLen: 5, pad: 0)
        XCTAssertEqual(truncated.tokens, [1, 5, 6, 7, 8])
        XCTAssertEqual(truncated.targets, [-100, -100, 7, 8, -100])
    }

    func testMixedFormatsAreRefusedWithTheLineNumber() {
        XCTAssertThrowsError(try TrainingData(path: write(["{\"text\": \"a b c d e f\"}", "{\"prompt\": \"a\", \"completion\": \"b\"}"]),
                                              tokenizer: tokenizer, seqLen: 2, eos: 2, pad: 0)) {
            XCTAssertTrue("\($0)".contains("line 2"), "\($0)")
        }
    }

    /// tools/fuzz/training-data's first find: an empty file is refused, and (seen under
    /// `swift test --sanitize=address`) read without Foundation's 4 KB leak on empty files.
    func testAnEmptyFileIsRefusedAndDoesNotLeak() {
        XCTAssertThrowsError(try TrainingData(path: write([]), tokenizer: tokenizer, seqLen: 4, eos: 2, pad: 0)) {
            XCTAssertTrue("\($0)".contains("holds no data lines"), "\($0)")
        }
        XCTAssertThrowsError(try TrainingData(path: temporaryDirectory(), tokenizer: tokenizer, seqLen: 4, eos: 2, pad: 0)) {
            XCTAssertTrue("\($0)".contains("cannot read data file"), "\($0)")
        }
    }
}
