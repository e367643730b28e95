import Checkpoint
import Kernels

/// How much of a parameter one token reads.
public enum ParameterAccess: Sendable, Equatable {
    /// All of it (projections, norms, the LM head — a tied embedding table too).
    case whole
    /// One row: an untied embedding table.
    case row
    /// One expert of a mixture: a token reads k of the E experts of its layer.
    case routed
}

/// A weight of a built model under its checkpoint name: the tensor the model computes with
/// (matrices in their stored dtype, views on the mapped file; norm scales and PolyCom
/// coefficients as F32, converted once at load when stored otherwise).
public struct Parameter: Sendable {
    public let name: String
    /// A q8 matrix's int8 values (I8), with its per-block scales in `q8Scales`.
    public let tensor: Tensor
    public let q8Scales: Tensor?
    public let access: ParameterAccess

    public init(_ name: String, _ tensor: Tensor, access: ParameterAccess = .whole) {
        (self.name, self.tensor, self.q8Scales, self.access) = (name, tensor, nil, access)
    }

    public init(_ name: String, _ matrix: Matrix, access: ParameterAccess = .whole) {
        (self.name, self.tensor, self.q8Scales, self.access) = (name, matrix.tensor, matrix.scales, access)
    }

    /// Bytes a pass over the parameter reads (a q8 matrix's scales included).
    public var byteCount: Int { tensor.bytes.count + (q8Scales?.bytes.count ?? 0) }
}

/// Parameters of a model or a config.
public struct ParameterCount: Sendable, Equatable {
    public let total: Int
    /// Parameters a token touches (MoE: only its top-k experts).
    public let active: Int

    public init(total: Int, active: Int) {
        (self.total, self.active) = (total, active)
    }

    /// Routed parameters count k/E towards `active`.
    init(_ parameters: [Parameter], config: ModelConfig) {
        let routed = parameters.filter { $0.access == .routed }.reduce(0) { $0 + $1.tensor.count }
        let total = parameters.reduce(0) { $0 + $1.tensor.count }
        let share = routed == 0 ? 0 : routed / (config.numExperts ?? 1) * (config.numExpertsPerTok ?? 1)
        self.init(total: total, active: total - routed + share)
    }
}

extension DecoderModel {
    /// Every weight under its checkpoint name, in the order of the architecture's tensor
    /// table: embeddings, each layer's blocks, final norm, LM head (absent when tied).
    public func parameters() -> [Parameter] {
        var out = [Parameter("model.embed_tokens.weight", embedding, access: config.tieWordEmbeddings ? .whole : .row)]
        for (i, layer) in layers.enumerated() { out += layer.parameters("model.layers.\(i).") }
        out.append(Parameter("model.norm.weight", finalNorm))
        if !config.tieWordEmbeddings { out.append(Parameter("lm_head.weight", lmHead)) }
        return out
    }


    public var parameterCount: ParameterCount { ParameterCount(parameters(), config: config) }

    /// Bytes of weights one decode token reads: every whole parameter and its k experts'
    /// share, not the embedding table (one row of it).
    public var bytesReadPerToken: Int {
        let k = Double(config.numExpertsPerTok ?? 1) / Double(config.numExperts ?? 1)
        return Int(parameters().reduce(0.0) { sum, p in
            switch p.access {
            case .whole: return sum + Double(p.byteCount)
            case .routed: return sum + Double(p.byteCount) * k
            case .row: return sum
            }
        })
    }
}
