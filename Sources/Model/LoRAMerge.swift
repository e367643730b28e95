import Checkpoint
import Foundation
import Kernels

/// A Hugging Face PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors),
/// applied at load by merging: W' = W + (lora_alpha / r) · B · A for every
/// `base_model.model.<module>.lora_A.weight` [r, in] / `.lora_B.weight` [out, r] pair.
public struct LoRAAdapterFolder: Sendable {
    public let path: String
    public let rank: Int
    public let alpha: Double
    public let targets: [String]
    public let dropout: Double

    private struct Config: Decodable {
        let peft_type: String?
        let r: Int?
        let lora_alpha: Double?
        let lora_dropout: Double?
        let use_rslora: Bool?
        let use_dora: Bool?
        let bias: String?
        let target_modules: Targets?
    }

    /// target_modules is a list or one name.
    private enum Targets: Decodable {
        case list([String])
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) { self = .list([s]) } else { self = .list(try c.decode([String].self)) }
        }
        var names: [String] { if case .list(let l) = self { return l }; return [] }
    }

    public init(path: String) throws {
        let file = path + "/adapter_config.json"
        guard let data = FileManager.default.contents(atPath: file) else { throw CheckpointError.unsupported("cannot read \(file)") }
        let c: Config
        do { c = try JSONDecoder().decode(Config.self, from: data) } catch {
            throw CheckpointError.unsupported("\(file) is not a PEFT adapter config: \(error)")
        }
        guard c.peft_type == "LORA" else { throw CheckpointError.unsupported("\(file): peft_type is \(c.peft_type ?? "missing"), not LORA") }
        guard let r = c.r, r >= 1, let alpha = c.lora_alpha else { throw CheckpointError.unsupported("\(file) has no valid r or lora_alpha") }
        guard c.use_rslora != true, c.use_dora != true, (c.bias ?? "none") == "none" else {
            throw CheckpointError.unsupported("\(file): only plain LoRA (no rsLoRA, DoRA or bias training) is supported")
        }
        (self.path, rank, self.alpha, targets, dropout) = (path, r, alpha, c.target_modules?.names ?? [], c.lora_dropout ?? 0)
    }

    public var scaling: Float { Float(alpha / Double(rank)) }

    /// The model's tensors with every adapted one replaced by its merged f32 value.
    public func merged(into tensors: [String: Tensor]) throws -> [String: Tensor] {
        let file = try SafeTensorsFile(path: path + "/adapter_model.safetensors")
        var out = tensors, unmatched: [String] = []
        for name in file.names where name.hasSuffix(".lora_A.weight") {
            let module = name.dropFirst("base_model.model.".count).dropLast(".lora_A.weight".count)
            let base = module + ".weight", bName = "base_model.model." + module + ".lora_B.weight"
            guard name.hasPrefix("base_model.model."), let w = tensors[String(base)], file.contains(bName) else { unmatched.append(name); continue }
            let a = try file.tensor(name), b = try file.tensor(bName)
            let O = w.shape[0], I = w.shape.count == 2 ? w.shape[1] : 0
            guard w.shape.count == 2, a.shape == [rank, I], b.shape == [O, rank] else {
                throw CheckpointError.unsupported("\(path): \(module) has A \(a.shape), B \(b.shape) for a weight \(w.shape) at rank \(rank)")
            }
            var merged = [Float](repeating: 0, count: O * I)
            merged.withUnsafeMutableBufferPointer { w.copyFloats(into: $0.baseAddress!) }
            let af = a.floats(), bf = b.floats()
            merged.withUnsafeMutableBufferPointer { m in
                BLAS.sgemm(m: O, n: I, k: rank, alpha: scaling, a: bf, lda: rank, b: af, ldb: I, beta: 1, c: m.baseAddress!, ldc: I)
            }
            out[String(base)] = Tensor(merged, shape: [O, I])
        }
        guard unmatched.isEmpty else {
            throw CheckpointError.unsupported("\(path): adapter tensors fit no weight of this model: \(unmatched.prefix(4).joined(separator: ", "))")
        }
        return out
    }
}
