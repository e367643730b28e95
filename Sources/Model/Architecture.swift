import Checkpoint
import Kernels

/// One model architecture: the tensors it needs and how it is built from them.
public protocol Architecture {
    /// Every tensor of a checkpoint of this config, canonical names and shapes.
    static func weights(_ config: ModelConfig) -> [WeightSpec]
    /// The model from bound tensors (all of `weights(config)` present, shapes checked).
    static func build(_ config: ModelConfig, _ weights: [String: Tensor]) throws -> DecoderModel
}

public enum Architectures {
    /// The architecture for a `model_type`. New architectures register here only.
    public static func of(_ type: ModelType) -> Architecture.Type {
        switch type {
        case .polyllama, .llama: return Llama.self
        case .olmoe: return OLMoE.self
        }
    }

    /// Loads a checkpoint folder: config, shapes checked against the architecture, weights
    /// kept in their stored dtype (views on the mapped files).
    public static func load(path: String) throws -> DecoderModel {
        let folder = try CheckpointFolder(path: path)
        let config = folder.config
        let arch = of(config.modelType)
        let optional: Set<String> = config.tieWordEmbeddings ? ["lm_head.weight"] : []
        let tensors = try folder.bind(arch.weights(config), optional: optional)
        return try arch.build(config, tensors)
    }
}

/// Parameter counts of a config (from the architecture's tensor table).
public struct ParameterCount: Sendable {
    public let total: Int
    /// Parameters a token touches (MoE: only its top-k experts).
    public let active: Int

    public init(_ config: ModelConfig) {
        let specs = Architectures.of(config.modelType).weights(config)
        total = specs.reduce(0) { $0 + $1.count }
        if let e = config.numExperts, let k = config.numExpertsPerTok, e > 0 {
            let expert = specs.filter { $0.name.contains(".mlp.experts.") }.reduce(0) { $0 + $1.count }
            active = total - expert + expert / e * k
        } else {
            active = total
        }
    }
}
