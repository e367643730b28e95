import Foundation
import JSON

/// trainer_state.json: where a run stands, enough to resume it exactly. The data order is
/// a function of (seed, step) (BatchOrder), so the position is the step count.
public struct TrainerState: Sendable, Equatable {
    /// Optimizer steps done.
    public var step: Int
    public var seed: UInt64
    /// Examples consumed so far (step · B · G), and the epoch that position is in.
    public var dataPosition: Int
    public var examples: Int
    public var seqLen: Int
    public var batchSize: Int
    public var gradAccum: Int
    /// Input tokens trained on so far and wall time spent.
    public var tokens: Int
    public var elapsed: Double

    public init(step: Int, seed: UInt64, examples: Int, seqLen: Int, batchSize: Int, gradAccum: Int, tokens: Int, elapsed: Double) {
        (self.step, self.seed, self.examples, self.seqLen) = (step, seed, examples, seqLen)
        (self.batchSize, self.gradAccum, self.tokens, self.elapsed) = (batchSize, gradAccum, tokens, elapsed)
        dataPosition = step * batchSize * gradAccum
    }

    public var json: JSONValue {
        ["step": .int(step), "data_position": .int(dataPosition), "epoch": .int(examples > 0 ? dataPosition / examples : 0),
         "examples": .int(examples), "seq_len": .int(seqLen), "batch_size": .int(batchSize), "grad_accum": .int(gradAccum),
         "tokens": .int(tokens), "elapsed_s": .double(elapsed),
         "rng": ["kind": "splitmix64 per-epoch permutation", "seed": .string(String(seed))]]
    }

    public static func load(path: String) throws -> TrainerState {
        guard let bytes = FileManager.default.contents(atPath: path) else { throw TrainingError.io("cannot read \(path)") }
        let j: JSONValue
        do { j = try JSONValue.parse([UInt8](bytes)) } catch { throw TrainingError.io("\(path) is not valid JSON (\(error))") }
        guard let step = j["step"]?.intValue, let examples = j["examples"]?.intValue, let seqLen = j["seq_len"]?.intValue,
              let b = j["batch_size"]?.intValue, let g = j["grad_accum"]?.intValue,
              let seed = j["rng"]?["seed"]?.stringValue.flatMap(UInt64.init) else {
            throw TrainingError.io("\(path) lacks step, examples, seq_len, batch_size, grad_accum or rng.seed")
        }
        return TrainerState(step: step, seed: seed, examples: examples, seqLen: seqLen, batchSize: b, gradAccum: g,
                            tokens: j["tokens"]?.intValue ?? 0, elapsed: j["elapsed_s"]?.doubleValue ?? 0)
    }
}
