import Checkpoint
import Kernels

/// One model architecture: what it needs of a config, the tensors it needs and how it is
/// built from them. Adding one is a file with a conforming type plus one line in
/// `Architectures.registry`.
public protocol Architecture {
    /// What `polycom inspect` calls it.
    static func summary(_ config: ModelConfig) -> String
    /// True when the MLP (each expert) multiplies an activated gate with an up projection.
    static func isGated(_ config: ModelConfig) -> Bool
    /// The first problem of `config` beyond `ModelConfig`'s generic checks, or nil.
    static func problem(_ config: ModelConfig) -> String?
    /// Every tensor of a checkpoint of this config, canonical names and shapes, in the order
    /// of `DecoderModel.parameters()`.
    static func weights(_ config: ModelConfig) -> [WeightSpec]
    /// Total and per-token parameters of a config (from the tensor table; no weights needed).
    static func parameterCount(_ config: ModelConfig) -> ParameterCount
    /// The model from bound tensors (all of `weights(config)` present, shapes checked).
    static func build(_ config: ModelConfig, _ weights: [String: Tensor], options: ComputeOptions) throws -> DecoderModel
}

extension Architecture {
    public static func problem(_ config: ModelConfig) -> String? { nil }

    public static func parameterCount(_ config: ModelConfig) -> ParameterCount {
        let total = weights(config).reduce(0) { $0 + $1.count }
        return ParameterCount(total: total, active: total)
    }
}

public enum Architectures {
    /// Every architecture, by config.json's `model_type`.
    public static let registry: [(modelType: String, architecture: any Architecture.Type)] = [
        ("polyllama", PolyLlama.self),
        ("llama", Llama.self),
        ("olmoe", OLMoE.self),
    ]

    public static var modelTypes: [String] { registry.map(\.modelType) }

    /// The architecture of `config`, after its own config checks. Errors name `path`.
    public static func of(_ config: ModelConfig, path: String = "config.json") throws -> any Architecture.Type {
        guard let arch = registry.first(where: { $0.modelType == config.modelType })?.architecture else {
            throw CheckpointError.invalidConfig(
                path: path, reason: "unknown model_type '\(config.modelType)' (supported: \(modelTypes.joined(separator: ", ")))")
        }
        if let problem = arch.problem(config) { throw CheckpointError.invalidConfig(path: path, reason: problem) }
        return arch
    }

    /// Loads a checkpoint folder: config, shapes checked against the architecture, weights
    /// kept in their stored dtype (views on the files, mapped or copied as `loading` says).
    /// `adapter`: a PEFT LoRA folder merged into the weights at load.
    public static func load(path: String, options: ComputeOptions = ComputeOptions(), adapter: String? = nil,
                            loading: WeightLoading = .mapped) throws -> DecoderModel {
        try load(CheckpointFolder(path: path, loading: loading), options: options, adapter: adapter)
    }

    /// The same for a folder already opened (whose files' snapshots the caller keeps).
    public static func load(_ folder: CheckpointFolder, options: ComputeOptions = ComputeOptions(),
                            adapter: String? = nil) throws -> DecoderModel {
        let path = folder.path
        let config = folder.config
        let arch = try of(config, path: path + "/config.json")
        let optional: Set<String> = config.tieWordEmbeddings ? ["lm_head.weight"] : []
        var tensors = try folder.bind(arch.weights(config), optional: optional)
        if let adapter { tensors = try LoRAAdapterFolder(path: adapter).merged(into: tensors) }
        return try arch.build(config, tensors, options: options)
    }
}
