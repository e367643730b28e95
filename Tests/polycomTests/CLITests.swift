import Checkpoint
import Foundation
import TestSupport
import XCTest

/// Runs the built `polycom` executable as a user would.
final class CLITests: XCTestCase {
    struct Result { let status: Int32; let stdout: String; let stderr: String }

    func polycom(_ arguments: String...) throws -> Result {
        let binary = Bundle.main.bundleURL.appendingPathComponent("polycom")
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    func testInspectPolyNorm1BConfig() throws {
        let r = try polycom("inspect", repositoryRoot + "/Configs/PolyNorm_1B")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("1,345,423,456"), r.stdout)
    }

    func testForwardWritesReferenceLogits() throws {
        let ref = try reference("polynorm-f32")
        let tokens = try ref.tensor("tokens_7").ints().map(String.init).joined(separator: ",")
        let out = temporaryDirectory() + "/logits.safetensors"
        let r = try polycom("forward", "--model", fixtureModel("polynorm-f32"), "--tokens", tokens, "--out", out)
        XCTAssertEqual(r.status, 0, r.stderr)
        let logits = try SafeTensorsFile(path: out).tensor("logits")
        XCTAssertEqual(logits.dtype, .f32)
        XCTAssertEqual(logits.shape, [7, 320])
        assertClose(logits.floats(), try ref.tensor("logits_7").floats(), tolerance: 1e-4)
    }

    func testGenerateJSONMatchesReferenceGreedyTokens() throws {
        let ref = try reference("polyrelu-tied")
        let prompt = try ref.tensor("greedy_prompt").ints().map(String.init).joined(separator: ",")
        let expected = try ref.tensor("greedy_tokens").ints()
        let r = try polycom("generate", "--model", fixtureModel("polyrelu-tied"), "--tokens", prompt,
                            "--max-tokens", String(expected.count), "--temperature", "0", "--json")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                       "{\"tokens\":[" + expected.map(String.init).joined(separator: ",") + "]}")
    }

    func testCorruptInputFailsWithMessage() throws {
        let dir = try copyOfFixture("polynorm-f32")
        let path = dir + "/model.safetensors"
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
        let r = try polycom("forward", "--model", dir, "--tokens", "1,2", "--out", dir + "/x.safetensors")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("truncated"), r.stderr)

        let bad = try polycom("generate", "--model", fixtureModel("polynorm-f32"), "--tokens", "1,x")
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--tokens"), bad.stderr)
    }
}
