import Checkpoint
import Foundation
import JSON
import Kernels
import TestSupport
import XCTest

/// `polycom convert` and `--weights`: a q8 folder is read back as the model quantised at load.
final class ConvertCommandTests: XCTestCase {
    func logits(_ path: String) throws -> [Float] { try SafeTensorsFile(path: path).tensor("logits").floats() }

    func testConvertToQ8ReadsBackAsQuantisedAtLoad() throws {
        let source = fixtureModel("polynorm-bf16-sharded"), out = temporaryDirectory() + "/q8"
        let r = try polycom("convert", "--to", "q8", source, out)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/config.json"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/model.safetensors.index.json"))
        let file = try SafeTensorsFile(path: out + "/model.safetensors")
        let values = try file.tensor("model.layers.0.mlp.up_proj.weight.q8"), scales = try file.tensor("model.layers.0.mlp.up_proj.weight.q8_scale")
        XCTAssertEqual(values.dtype, .i8)
        XCTAssertEqual(values.shape, [256, 96])
        XCTAssertEqual(scales.dtype, .f16)
        XCTAssertEqual(scales.shape, [256, 3])
        XCTAssertFalse(file.names.contains("model.layers.0.mlp.up_proj.weight"))
        XCTAssertEqual(try file.tensor("model.embed_tokens.weight").dtype, .bf16, "an untied embedding table stays as stored")
        XCTAssertEqual(try file.tensor("model.norm.weight").dtype, .f32)

        let ref = try reference("polynorm-bf16-sharded"), dir = temporaryDirectory()
        func tokens(_ n: Int) throws -> String { try ref.tensor("tokens_\(n)").ints().map(String.init).joined(separator: ",") }
        // 7 tokens take the integer kernels, 40 the dequantised panels with f32 activations.
        for (model, weights, n, name) in [(out, "auto", 7, "folder"), (source, "q8", 7, "load"), (source, "auto", 7, "bf16"),
                                          (out, "auto", 40, "folder40"), (out, "f32", 40, "dequantised40")] {
            let run = try polycom("forward", "--model", model, "--tokens", try tokens(n), "--weights", weights, "--out", "\(dir)/\(name).safetensors")
            XCTAssertEqual(run.status, 0, run.stderr)
        }
        XCTAssertEqual(try logits(dir + "/folder.safetensors"), try logits(dir + "/load.safetensors"), "the folder holds what load-time quantisation makes")
        let d = maxAbsDiff(try logits(dir + "/folder.safetensors"), try logits(dir + "/bf16.safetensors"))
        XCTAssertGreaterThan(d, 1e-4)
        XCTAssertLessThan(d, 0.2)
        assertClose(try logits(dir + "/dequantised40.safetensors"), try logits(dir + "/folder40.safetensors"), tolerance: 1e-4)

        let again = try polycom("convert", "--to", "q8", source, out)
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.stderr.contains("already holds weights"), again.stderr)
        XCTAssertNotEqual(try polycom("convert", "--to", "auto", source, dir + "/x").status, 0)
        let bad = try polycom("forward", "--model", source, "--tokens", "1", "--weights", "q4", "--out", dir + "/x.safetensors")
        XCTAssertNotEqual(bad.status, 0)
    }

    /// bench --weights q8 streams fewer weight bytes per token than the bf16 weights.
    func testBenchWithQ8Weights() throws {
        func bench(_ weights: String) throws -> JSONValue {
            let r = try polycom(["bench", "model", "--model", fixtureModel("polynorm-bf16-sharded"), "--prompt-tokens", "8",
                                 "--batch", "1", "--decode-tokens", "2", "--repeats", "1", "--no-roofline", "--weights", weights, "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            return try JSONValue.parse(r.stdout)
        }
        let q8 = try bench("q8"), bf16 = try bench("auto")
        XCTAssertEqual(q8["weights"]?.stringValue, "q8")
        let ratio = Double(q8["weight_bytes"]?.intValue ?? 0) / Double(bf16["weight_bytes"]?.intValue ?? 1)
        XCTAssertEqual(ratio, 17.0 / 32.0, accuracy: 0.02)
    }
}
