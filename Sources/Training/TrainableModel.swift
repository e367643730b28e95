import Checkpoint
import Kernels

/// A model the trainer can step: the decoder (dense or MoE), with or without LoRA adapters.
/// Tokens and targets are B sequences of T tokens, row-major; a target of -100 is ignored.
public protocol TrainableModel: AnyObject {
    var config: ModelConfig { get }
    /// The tensors AdamW updates (for LoRA: the adapters').
    var store: ParameterStore { get }
    /// The longest sequence and the most sequences one pass takes.
    var seqLen: Int { get }
    var maxSequences: Int { get }
    /// Forward and backward of one micro-batch:
    /// gradients += ∂(lossScale · Σ CE + routerScale · (aux·lb + z·z-loss))/∂θ.
    func accumulateGradients(tokens: [Int32], targets: [Int32], lossScale: Float, routerScale: Float) throws -> PassLoss
    /// Summed token cross-entropy, forward only.
    func loss(tokens: [Int32], targets: [Int32]) throws -> Double
    /// Tokens routed to each expert of each MoE layer ([layer][expert]) since the last
    /// call, counted over training passes; nil for dense models.
    func takeRouterCounts() -> [[Int]]?
}

/// The terms of one micro-batch's objective.
public struct PassLoss: Sendable, Equatable {
    /// Summed token cross-entropy.
    public var ce: Double
    /// Load-balancing and z-loss of the micro-batch's router logits (0 for dense models).
    public var aux: Double = 0
    public var z: Double = 0
    /// aux·coef_aux + z·coef_z: what the router losses add to the objective.
    public var weighted: Double = 0
}

/// A parameter and its gradient (nil when frozen), and the LoRA adapter of a projection.
/// A frozen matrix kept in bf16 / f16 is applied through `matrix`, widened on the fly a
/// panel at a time into the store's scratch.
struct Param {
    let name: String
    private let f32: UnsafeMutablePointer<Float>?
    let matrix: Matrix?
    private let scratch: FloatBuffer
    let g: UnsafeMutablePointer<Float>?
    let lora: LoRAAdapter?
    let loraState: LoRAState?

    init(_ store: ParameterStore, _ name: String, adapters: LoRAAdapters? = nil) {
        self.name = name
        scratch = store.panelScratch
        if store.slot(name)!.dtype == .f32 {
            (f32, matrix) = (store.param(name), nil)
        } else {
            (f32, matrix) = (nil, Matrix(store.tensor(name)))
        }
        g = store.grad(name)
        lora = adapters?.byBase[name]
        loraState = adapters?.state
    }

    /// The f32 values (norm scales, PolyCom coefficients, f32 matrices).
    var w: UnsafeMutablePointer<Float> {
        guard let f32 else { preconditionFailure("\(name) is kept in bf16 / f16: use forward, backward or copyRow") }
        return f32
    }

    /// y[N, O] = x[N, I] · wᵀ (+ the adapter's s · B A x).
    func forward(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, N: Int, I: Int, O: Int) {
        if let matrix {
            matrix.applyWidened(x, tokens: N, into: y, scratch: scratch, threads: BLAS.threads)
        } else {
            Linear.forward(y, x, w, N: N, I: I, O: O)
        }
        lora?.forward(y, x, N: N, state: loraState!)
    }

    /// Linear.backward through the projection and its adapter: dx = (or +=) dy · w, and
    /// dw += dyᵀ x only for a trainable w (a frozen one costs just the input gradient).
    func backward(dx: UnsafeMutablePointer<Float>?, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                  N: Int, I: Int, O: Int, accumulate: Bool = false) {
        if let matrix {
            if let dx { matrix.applyTransposed(dy, tokens: N, into: dx, accumulate: accumulate, scratch: scratch, threads: BLAS.threads) }
        } else {
            Linear.backward(dx: dx, dw: g, dy, x, w, N: N, I: I, O: O, accumulate: accumulate)
        }
        lora?.backward(dx: dx, dy, x, N: N, state: loraState!)
    }

    /// Row `r` of a [rows, width] matrix as f32 (embedding lookup).
    func copyRow(_ r: Int, width: Int, into out: UnsafeMutablePointer<Float>) {
        if let matrix { matrix.copyRow(r, into: out) } else { out.update(from: w + r * width, count: width) }
    }
}
