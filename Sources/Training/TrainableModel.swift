import Checkpoint

/// A model the trainer can step: the dense decoder now, MoE and LoRA-wrapped ones next.
/// Tokens and targets are B sequences of T tokens, row-major; a target of -100 is ignored.
public protocol TrainableModel: AnyObject {
    var config: ModelConfig { get }
    /// The tensors AdamW updates (for LoRA: the adapters').
    var store: ParameterStore { get }
    /// The longest sequence and the most sequences one pass takes.
    var seqLen: Int { get }
    var maxSequences: Int { get }
    /// Forward and backward of one micro-batch: gradients += ∂(lossScale · Σ CE)/∂θ.
    /// Returns the summed token cross-entropy of the micro-batch.
    func accumulateGradients(tokens: [Int32], targets: [Int32], lossScale: Float) throws -> Double
    /// Summed token cross-entropy, forward only.
    func loss(tokens: [Int32], targets: [Int32]) throws -> Double
}

/// A parameter and its gradient (nil when frozen).
struct Param {
    let w: UnsafeMutablePointer<Float>
    let g: UnsafeMutablePointer<Float>?

    init(_ store: ParameterStore, _ name: String) {
        w = store.param(name)
        g = store.grad(name)
    }
}
