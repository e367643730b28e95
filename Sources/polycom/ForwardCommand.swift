import ArgumentParser
import Checkpoint
import Foundation
import Kernels
import Model

struct Forward: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one full forward pass and write the logits.",
        discussion: "Writes a safetensors file with tensor `logits`, F32, shape [tokens, vocab].")

    @Option(help: "Checkpoint folder.")
    var model: String

    @Option(help: "Comma-separated token ids, e.g. 5,17,42.")
    var tokens: TokenList

    @Option(help: "Output safetensors file.")
    var out: String

    @Flag(help: "Multiply bf16 weights with AVX512-BF16 dot products (activations rounded to bf16).")
    var bf16Prefill = false

    @Option(help: WeightFormat.help)
    var weights: WeightFormat = .auto

    func run() throws {
        let m = try Architectures.load(path: model, options: ComputeOptions(bf16DotProducts: bf16Prefill, weights: weights))
        let logits = try m.logits(for: tokens.ids)
        let tensor = Tensor(logits.buffer.array, shape: [logits.rows, logits.vocab])
        try SafeTensorsWriter.write(["logits": tensor], to: out)
        FileHandle.standardError.write("wrote logits [\(logits.rows), \(logits.vocab)] to \(out)\n".data(using: .utf8)!)
    }
}
