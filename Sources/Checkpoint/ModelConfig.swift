import Foundation
import JSON

/// The activation named by config.json's `hidden_act`.
public enum Activation: String, Codable, Sendable, CaseIterable {
    case polynorm, polyrelu, relu, gelu, silu
    case geluTanh = "gelu_pytorch_tanh"
    case geluNew = "gelu_new"

    /// PolyCom activations carry learned coefficients (`mlp.act_fn.weight` / `.bias`).
    public var isPolynomial: Bool { self == .polynorm || self == .polyrelu }
}

/// A Hugging Face config.json. Unknown fields are ignored; missing required ones throw.
///
/// Only the generic fields and checks live here; which `model_type`s exist and what each
/// needs of its config is the Model module's architecture registry (`Architectures`).
public struct ModelConfig: Codable, Sendable, Equatable {
    public var modelType: String
    public var hiddenAct: Activation
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var vocabSize: Int
    public var headDim: Int
    public var rmsNormEps: Float
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling?
    public var maxPositionEmbeddings: Int
    public var tieWordEmbeddings: Bool
    public var attentionBias: Bool
    public var numExperts: Int?
    public var numExpertsPerTok: Int?
    public var normTopkProb: Bool
    public var clipQkv: Float?
    public var bosTokenId: Int?
    public var eosTokenIds: [Int]
    public var padTokenId: Int?
    /// `dtype` (transformers ≥ 4.56) or `torch_dtype`: "float32", "bfloat16", ...
    public var torchDtype: String?

    /// Llama 3 / linear RoPE frequency scaling, from `rope_scaling` or (transformers ≥ 5)
    /// `rope_parameters`.
    public struct RopeScaling: Codable, Sendable, Equatable {
        /// The `rope_type`s RoPE implements; any other is refused when the config is read.
        public static let implemented = ["default", "linear", "llama3"]

        public var ropeType: String
        public var factor: Double
        public var lowFreqFactor: Double?
        public var highFreqFactor: Double?
        public var originalMaxPositionEmbeddings: Int?

        enum CodingKeys: String, CodingKey {
            case ropeType = "rope_type", type, factor
            case lowFreqFactor = "low_freq_factor", highFreqFactor = "high_freq_factor"
            case originalMaxPositionEmbeddings = "original_max_position_embeddings"
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            ropeType = try c.decodeIfPresent(String.self, forKey: .ropeType) ?? c.decode(String.self, forKey: .type)
            factor = try c.decodeIfPresent(Double.self, forKey: .factor) ?? 1
            lowFreqFactor = try c.decodeIfPresent(Double.self, forKey: .lowFreqFactor)
            highFreqFactor = try c.decodeIfPresent(Double.self, forKey: .highFreqFactor)
            originalMaxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .originalMaxPositionEmbeddings)
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(ropeType, forKey: .ropeType)
            try c.encode(factor, forKey: .factor)
            try c.encodeIfPresent(lowFreqFactor, forKey: .lowFreqFactor)
            try c.encodeIfPresent(highFreqFactor, forKey: .highFreqFactor)
            try c.encodeIfPresent(originalMaxPositionEmbeddings, forKey: .originalMaxPositionEmbeddings)
        }
    }

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type", hiddenAct = "hidden_act", hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", numKeyValueHeads = "num_key_value_heads"
        case vocabSize = "vocab_size", headDim = "head_dim", rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta", ropeParameters = "rope_parameters", ropeScaling = "rope_scaling"
        case maxPositionEmbeddings = "max_position_embeddings", tieWordEmbeddings = "tie_word_embeddings"
        case attentionBias = "attention_bias", mlpBias = "mlp_bias"
        case numExperts = "num_experts", numExpertsPerTok = "num_experts_per_tok", normTopkProb = "norm_topk_prob"
        case clipQkv = "clip_qkv", bosTokenId = "bos_token_id", eosTokenId = "eos_token_id"
        case padTokenId = "pad_token_id", torchDtype = "torch_dtype", dtype
    }

    /// transformers ≥ 5 writes `rope_parameters` instead of `rope_theta` + `rope_scaling`: the
    /// theta and, unless `rope_type` is "default", the same scaling fields rope_scaling held.
    private struct RopeParameters: Decodable {
        var ropeTheta: Double?
        var scaling: RopeScaling?
        enum CodingKeys: String, CodingKey { case ropeTheta = "rope_theta", ropeType = "rope_type" }
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta)
            let type = try c.decodeIfPresent(String.self, forKey: .ropeType) ?? "default"
            scaling = type == "default" ? nil : try RopeScaling(from: decoder)
        }
    }

    /// One id or a list of ids (`eos_token_id` may be either).
    private enum OneOrMany: Decodable {
        case one(Int), many([Int])
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let i = try? c.decode(Int.self) { self = .one(i) } else { self = .many(try c.decode([Int].self)) }
        }
        var ids: [Int] { switch self { case .one(let i): return [i]; case .many(let l): return l } }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decode(String.self, forKey: .modelType)
        // HF's Llama and OLMoE configs default to silu.
        hiddenAct = try c.decodeIfPresent(Activation.self, forKey: .hiddenAct) ?? .silu
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim)
            ?? (numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0)
        rmsNormEps = try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? 1e-6
        let parameters = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? parameters?.ropeTheta ?? 10000
        ropeScaling = try c.decodeIfPresent(RopeScaling.self, forKey: .ropeScaling)
        let scalingKey = ropeScaling != nil ? "rope_scaling" : "rope_parameters"
        ropeScaling = ropeScaling ?? parameters?.scaling
        if let type = ropeScaling?.ropeType, !RopeScaling.implemented.contains(type) {
            throw CheckpointError.unsupported("\(scalingKey) rope_type '\(type)' is not supported (polycom implements "
                                              + RopeScaling.implemented.joined(separator: ", ") + ")")
        }
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 2048
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
        numExperts = try c.decodeIfPresent(Int.self, forKey: .numExperts)
        numExpertsPerTok = try c.decodeIfPresent(Int.self, forKey: .numExpertsPerTok)
        normTopkProb = try c.decodeIfPresent(Bool.self, forKey: .normTopkProb) ?? false
        clipQkv = try c.decodeIfPresent(Float.self, forKey: .clipQkv)
        bosTokenId = try c.decodeIfPresent(Int.self, forKey: .bosTokenId)
        eosTokenIds = try c.decodeIfPresent(OneOrMany.self, forKey: .eosTokenId)?.ids ?? []
        padTokenId = try c.decodeIfPresent(Int.self, forKey: .padTokenId)
        torchDtype = try c.decodeIfPresent(String.self, forKey: .dtype) ?? c.decodeIfPresent(String.self, forKey: .torchDtype)
        if try c.decodeIfPresent(Bool.self, forKey: .mlpBias) == true {
            throw CheckpointError.unsupported("mlp_bias: true is not supported")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(modelType, forKey: .modelType)
        try c.encode(hiddenAct, forKey: .hiddenAct)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(headDim, forKey: .headDim)
        try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        try c.encodeIfPresent(ropeScaling, forKey: .ropeScaling)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encode(attentionBias, forKey: .attentionBias)
        try c.encodeIfPresent(numExperts, forKey: .numExperts)
        try c.encodeIfPresent(numExpertsPerTok, forKey: .numExpertsPerTok)
        if numExperts != nil { try c.encode(normTopkProb, forKey: .normTopkProb) }
        try c.encodeIfPresent(clipQkv, forKey: .clipQkv)
        try c.encodeIfPresent(bosTokenId, forKey: .bosTokenId)
        if eosTokenIds.count == 1 { try c.encode(eosTokenIds[0], forKey: .eosTokenId) }
        else if !eosTokenIds.isEmpty { try c.encode(eosTokenIds, forKey: .eosTokenId) }
        try c.encodeIfPresent(padTokenId, forKey: .padTokenId)
        try c.encodeIfPresent(torchDtype, forKey: .torchDtype)
    }

    public var qDim: Int { numAttentionHeads * headDim }
    public var kvDim: Int { numKeyValueHeads * headDim }
}

extension ModelConfig {
    /// Reads and validates `config.json` at `path`.
    public static func load(path: String) throws -> ModelConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError.io(path: path, reason: "cannot read config.json")
        }
        return try decode(data, path: path)
    }

    public static func decode(_ data: Data, path: String = "config.json") throws -> ModelConfig {
        let config: ModelConfig
        do {
            let json = try JSONValue.parse([UInt8](data), rejectDuplicates: false)  // Python's json: the last wins
            config = try JSONValueDecoder().decode(ModelConfig.self, from: json)
        } catch let error as JSONParseError {
            throw CheckpointError.invalidConfig(path: path, reason: "\(error)")  // "invalid JSON at line …"
        } catch let error as DecodingError {
            throw CheckpointError.invalidConfig(path: path, reason: describe(error))
        } catch let error as CheckpointError {
            throw CheckpointError.invalidConfig(path: path, reason: error.description)
        } catch {
            throw CheckpointError.invalidConfig(path: path, reason: "\(error)")
        }
        try config.validate(path: path)
        return config
    }

    private static func describe(_ error: DecodingError) -> String {
        func field(_ path: [CodingKey]) -> String { path.map(\.stringValue).joined(separator: ".") }
        switch error {
        case .keyNotFound(let key, let ctx):
            return "missing required field '\(field(ctx.codingPath + [key]))'"
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx):
            return "field '\(field(ctx.codingPath))' has the wrong type (\(ctx.debugDescription))"
        case .dataCorrupted(let ctx):
            let name = field(ctx.codingPath)
            if let last = ctx.codingPath.last?.stringValue, last == "hidden_act" {
                return "unknown hidden_act (supported: \(Activation.allCases.map(\.rawValue).joined(separator: ", ")))"
            }
            return name.isEmpty ? "not valid JSON: \(ctx.debugDescription)" : "field '\(name)': \(ctx.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    /// Bounds far past any real checkpoint (~130 layers; the largest MoEs ~60 layers × 256
    /// experts, ~10^12 parameters), so that every tensor size and their sum fit in Int and the
    /// tensor table lists quickly (100,671 layers took over 10 s under the fuzzer).
    static let maxLayers = 1 << 10
    static let maxLayerExperts = 1 << 16
    static let maxParameters = Double(1 << 50)

    func validate(path: String) throws {
        func fail(_ reason: String) -> CheckpointError { .invalidConfig(path: path, reason: reason) }
        let positive: [(String, Int)] = [
            ("hidden_size", hiddenSize), ("intermediate_size", intermediateSize),
            ("num_hidden_layers", numHiddenLayers), ("num_attention_heads", numAttentionHeads),
            ("num_key_value_heads", numKeyValueHeads), ("vocab_size", vocabSize), ("head_dim", headDim),
            ("max_position_embeddings", maxPositionEmbeddings),
        ]
        for (name, value) in positive where value <= 0 { throw fail("\(name) must be positive, got \(value)") }
        if numAttentionHeads % numKeyValueHeads != 0 {
            throw fail("num_attention_heads (\(numAttentionHeads)) is not a multiple of num_key_value_heads (\(numKeyValueHeads))")
        }
        if headDim % 2 != 0 { throw fail("head_dim (\(headDim)) must be even for rotary embeddings") }
        // Sizes whose tensor table cannot be listed (a billion layers hangs) or counted in Int
        // (counting traps) are refused here, before any architecture builds its table (found by
        // tools/fuzz/config). Counted in Double, generously: an upper bound of the real count.
        let (D, I, V, L) = (Double(hiddenSize), Double(intermediateSize), Double(vocabSize), Double(numHiddenLayers))
        let E = Double(max(numExperts ?? 1, 1))
        let q = Double(numAttentionHeads) * Double(headDim), kv = Double(numKeyValueHeads) * Double(headDim)
        let perLayer = D * (2 * q + 2 * kv) + E * (3 * D * I + D) + 8 * D + 2 * q + 2 * kv + 8
        let parameters = 2 * V * D + D + L * perLayer
        if numHiddenLayers > Self.maxLayers {
            throw fail("num_hidden_layers \(numHiddenLayers): more than the \(Self.maxLayers) any loadable checkpoint has")
        }
        if L * E > Double(Self.maxLayerExperts) {
            throw fail("\(numHiddenLayers) layers × \(numExperts ?? 1) experts: more than the \(Self.maxLayerExperts) any loadable checkpoint has")
        }
        if parameters > Self.maxParameters {
            throw fail("the sizes describe about \(String(format: "%.3g", parameters)) parameters, more than the "
                       + "\(String(format: "%.3g", Self.maxParameters)) polycom can count")
        }
        if !(rmsNormEps > 0) { throw fail("rms_norm_eps must be positive") }
        if !(ropeTheta > 0) { throw fail("rope_theta must be positive") }
        if attentionBias { throw fail("attention_bias: true is not supported") }
    }
}
