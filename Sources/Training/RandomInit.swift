import Checkpoint
import Foundation
import JSON
import Kernels
import Model
import Tokenizer

/// From-scratch weights as transformers' `_init_weights` makes them: every matrix (and the
/// embedding table) normal(0, `initializer_range`), the embedding's padding row zero, norms
/// one, biases zero, and PolyNorm's coefficients 1/3 with bias 0 (the paper's PolyNorm class).
///
/// The normals come from SplitMix64 through Box–Muller, one stream per tensor seeded from
/// (seed, tensor name), so a tensor does not change when another one is added or resized.
public enum RandomInit {
    /// transformers' PretrainedConfig default.
    public static let defaultRange = 0.02

    /// The initial value of every tensor of `specs`.
    public static func tensors(config c: ModelConfig, specs: [WeightSpec], range: Double, seed: UInt64) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for spec in specs { out[spec.name] = Tensor(values(spec, config: c, range: range, seed: seed), shape: spec.shape) }
        return out
    }

    static func values(_ spec: WeightSpec, config c: ModelConfig, range: Double, seed: UInt64) -> [Float] {
        let name = spec.name
        if name.hasSuffix("act_fn.weight") { return [Float](repeating: 1.0 / 3.0, count: spec.count) }
        if name.hasSuffix(".bias") { return [Float](repeating: 0, count: spec.count) }
        if spec.shape.count == 1 { return [Float](repeating: 1, count: spec.count) }  // RMSNorm weights
        var rng = SplitMix64(seed: seed ^ fnv1a(name))
        var v = [Float](repeating: 0, count: spec.count)
        var i = 0
        while i < v.count {
            let (a, b) = gaussianPair(&rng)
            v[i] = Float(a * range)
            if i + 1 < v.count { v[i + 1] = Float(b * range) }
            i += 2
        }
        if name == "model.embed_tokens.weight", let pad = c.padTokenId, (0..<spec.shape[0]).contains(pad) {
            for j in 0..<spec.shape[1] { v[pad * spec.shape[1] + j] = 0 }
        }
        return v
    }

    /// Two independent standard normals (Box–Muller on two uniforms in (0, 1]).
    static func gaussianPair(_ rng: inout SplitMix64) -> (Double, Double) {
        let u1 = (Double(rng.next() >> 11) + 1) / 9_007_199_254_740_992.0
        let u2 = Double(rng.next() >> 11) / 9_007_199_254_740_992.0
        let r = (-2 * Foundation.log(u1)).squareRoot()
        return (r * cos(2 * .pi * u2), r * sin(2 * .pi * u2))
    }

    static func fnv1a(_ s: String) -> UInt64 {
        s.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
    }

    /// Writes a step-0 checkpoint folder: `config` copied, the tokenizer files of
    /// `tokenizer`, and model.safetensors (F32) from `tensors(...)`.
    public static func writeCheckpoint(config configPath: String, tokenizer: String, seed: UInt64, to dir: String) throws {
        let fm = FileManager.default
        guard let data = fm.contents(atPath: configPath) else { throw TrainingError.io("cannot read --init \(configPath)") }
        let c = try ModelConfig.decode(data, path: configPath)
        let arch = try Architectures.of(c, path: configPath)
        guard DecoderTrainingModel.trains(arch) else {
            throw TrainingError.invalidModel("\(configPath): model_type \(c.modelType) is not trainable (polyllama, llama, olmoe)")
        }
        let json = try JSONValue.parse(String(decoding: data, as: UTF8.self))
        let range = json["initializer_range"]?.doubleValue ?? defaultRange
        guard range > 0 else { throw TrainingError.invalidModel("\(configPath): initializer_range must be positive") }
        guard fm.fileExists(atPath: tokenizer + "/tokenizer.json") else {
            throw TrainingError.invalidModel("--tokenizer \(tokenizer) has no tokenizer.json")
        }
        let vocab = try Tokenizer(path: tokenizer).vocabSize
        guard vocab <= c.vocabSize else {
            throw TrainingError.invalidModel("--tokenizer \(tokenizer) has \(vocab) tokens but \(configPath) has vocab_size \(c.vocabSize)")
        }
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: dir + "/config.json"))
        for file in CheckpointSaver.copiedFiles where file != "generation_config.json" && fm.fileExists(atPath: tokenizer + "/" + file) {
            try fm.copyItem(atPath: tokenizer + "/" + file, toPath: dir + "/" + file)
        }
        try SafeTensorsWriter.write(tensors(config: c, specs: arch.weights(c), range: range, seed: seed), to: dir + "/model.safetensors")
    }
}
