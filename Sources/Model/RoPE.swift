import Checkpoint
import Foundation
import Kernels
import PolyKernels

/// Rotary position embeddings in Hugging Face's rotate_half convention: the first and
/// second halves of each head vector form the rotated pairs.
public struct RoPE: Sendable {
    public let headDim: Int
    /// [headDim / 2] inverse frequencies, computed in fp32 as transformers does.
    public let invFreq: [Float]

    public init(config: ModelConfig) {
        headDim = config.headDim
        let half = headDim / 2
        let theta = Float(config.ropeTheta)
        var freq = (0..<half).map { j in 1 / powf(theta, Float(2 * j) / Float(config.headDim)) }
        if let s = config.ropeScaling {
            freq = RoPE.scaled(freq, s)
        }
        invFreq = freq
    }

    /// Linear and Llama 3 frequency scaling.
    static func scaled(_ freq: [Float], _ s: ModelConfig.RopeScaling) -> [Float] {
        switch s.ropeType {
        case "linear":
            return freq.map { $0 / Float(s.factor) }
        case "llama3":
            let factor = Float(s.factor), low = Float(s.lowFreqFactor ?? 1), high = Float(s.highFreqFactor ?? 4)
            let old = Float(s.originalMaxPositionEmbeddings ?? 8192)
            let lowWavelen = old / low, highWavelen = old / high
            return freq.map { f in
                let wavelen = 2 * Float.pi / f
                if wavelen < highWavelen { return f }
                if wavelen > lowWavelen { return f / factor }
                let smooth = (old / wavelen - low) / (high - low)
                return (1 - smooth) * f / factor + smooth * f
            }
        default:
            return freq
        }
    }

    /// cos and sin tables [positions.count, headDim / 2], in the workspace.
    func tables(positions: [Int], work: Workspace) -> Tables {
        let half = headDim / 2
        let c = work.buffer(.cos, positions.count * half), s = work.buffer(.sin, positions.count * half)
        for (t, p) in positions.enumerated() {
            for j in 0..<half {
                let angle = Float(p) * invFreq[j]
                c[t * half + j] = Float(Foundation.cos(Double(angle)))
                s[t * half + j] = Float(Foundation.sin(Double(angle)))
            }
        }
        return Tables(cos: c, sin: s)
    }

    struct Tables {
        let cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>
    }

    /// Rotates x [T, heads, headDim] (row stride ld) in place.
    func apply(_ x: UnsafeMutablePointer<Float>, ld: Int, tokens: Int, heads: Int, tables: Tables) {
        pk_rope(x, ld, tables.cos, tables.sin, tokens, heads, headDim)
    }
}
