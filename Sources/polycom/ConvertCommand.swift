import ArgumentParser
import Checkpoint
import Foundation
import Kernels
import Model

/// `polycom convert --to q8 DIR OUT`: the checkpoint with its weight matrices stored as
/// q8 (SafeTensorsQ8's naming), bf16 or f32, read back by every command.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a copy of a checkpoint folder with its weight matrices as q8, bf16 or f32.",
        discussion: """
            OUT gets config.json and every other file of DIR except its weights, plus one \
            model.safetensors. q8 stores each matrix <name> as <name>.q8 (I8 [rows, cols]) and \
            <name>.q8_scale (F16 [rows, ceil(cols/32)], one scale per block of 32 columns); \
            norm scales and PolyCom coefficients are F32.
            """)

    @Option(help: "q8, bf16 or f32.")
    var to: WeightFormat

    @Argument(help: "Checkpoint folder to read.")
    var input: String

    @Argument(help: "Folder to write (created; must not hold weights already).")
    var output: String

    func validate() throws {
        guard to != .auto else { throw ValidationError("--to: q8, bf16 or f32") }
    }

    func run() throws {
        let fm = FileManager.default
        let source = URL(fileURLWithPath: input).standardizedFileURL, target = URL(fileURLWithPath: output).standardizedFileURL
        guard source.path != target.path else { throw ValidationError("OUT must be another folder than DIR") }
        let model = try Architectures.load(path: input, options: ComputeOptions(weights: to))
        try fm.createDirectory(at: target, withIntermediateDirectories: true)
        let existing = (try? fm.contentsOfDirectory(atPath: target.path)) ?? []
        if existing.contains(where: isWeightFile) { throw ValidationError("\(output) already holds weights") }
        for name in try fm.contentsOfDirectory(atPath: source.path) where !isWeightFile(name) {
            var isDir: ObjCBool = false
            _ = fm.fileExists(atPath: source.appendingPathComponent(name).path, isDirectory: &isDir)
            if isDir.boolValue || existing.contains(name) { continue }
            try fm.copyItem(at: source.appendingPathComponent(name), to: target.appendingPathComponent(name))
        }
        var tensors: [String: Tensor] = [:]
        for p in model.parameters() {
            if let scales = p.q8Scales {
                tensors[p.name + SafeTensorsQ8.valueSuffix] = p.tensor
                tensors[p.name + SafeTensorsQ8.scaleSuffix] = scales
            } else {
                tensors[p.name] = p.tensor
            }
        }
        try SafeTensorsWriter.write(tensors, to: target.appendingPathComponent("model.safetensors").path)
        let bytes = tensors.values.reduce(0) { $0 + $1.bytes.count }
        FileHandle.standardError.write(String(format: "wrote %@/model.safetensors: %d tensors, %.1f MB (%@)\n", output, tensors.count,
                                              Double(bytes) / 1e6, to.rawValue).data(using: .utf8)!)
    }

    private func isWeightFile(_ name: String) -> Bool {
        name.hasSuffix(".safetensors") || name == "model.safetensors.index.json"
    }
}
