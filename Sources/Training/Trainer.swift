/// The optimizer-step settings of a run.
public struct TrainingRecipe: Sendable, Equatable {
    public var schedule: LearningRateSchedule
    public var optimizer: AdamW
    /// Global gradient-norm limit (clip_grad_norm_).
    public var clip: Double
    public var batchSize: Int
    public var gradAccum: Int
    public var shuffle: Bool
    public var seed: UInt64

    public init(schedule: LearningRateSchedule, optimizer: AdamW, clip: Double, batchSize: Int, gradAccum: Int,
                shuffle: Bool, seed: UInt64) {
        (self.schedule, self.optimizer, self.clip) = (schedule, optimizer, clip)
        (self.batchSize, self.gradAccum, self.shuffle, self.seed) = (batchSize, gradAccum, shuffle, seed)
    }
}

/// What one optimizer step did.
public struct StepResult: Sendable, Equatable {
    /// 1-based number of the step.
    public let step: Int
    /// The objective: summed token cross-entropy over the step's micro-batches / the step's
    /// target tokens, plus Σ_g (aux·lb_g + z·z_g) / G for MoE models.
    public let loss: Double
    /// The cross-entropy part of the objective.
    public let ceLoss: Double
    /// Mean over micro-batches of the load-balancing and z losses (unweighted; 0 for dense).
    public let auxLoss: Double
    public let zLoss: Double
    /// The learning rate this step used.
    public let lr: Double
    /// Global L2 norm of the gradients before clipping.
    public let gradNorm: Double
    /// Input tokens of the step (B·G·T).
    public let tokens: Int
}

/// Runs the recipe's optimizer steps over a model and its examples.
public final class Trainer {
    public let model: TrainableModel
    public let recipe: TrainingRecipe
    public let examples: [Example]
    public let order: BatchOrder
    /// Optimizer steps done so far (the next step's 0-based index).
    public private(set) var completedSteps = 0

    public init(model: TrainableModel, recipe: TrainingRecipe, examples: [Example]) throws {
        guard !examples.isEmpty else { throw TrainingError.invalidData("no training examples") }
        guard recipe.batchSize >= 1, recipe.gradAccum >= 1 else {
            throw TrainingError.invalidArgument("--batch-size and --grad-accum must be at least 1")
        }
        guard recipe.batchSize <= model.maxSequences, examples.allSatisfy({ $0.tokens.count == model.seqLen }) else {
            throw TrainingError.invalidArgument("examples do not fit the model's pass of \(model.maxSequences) × \(model.seqLen)")
        }
        self.model = model
        self.recipe = recipe
        self.examples = examples
        order = BatchOrder(examples: examples.count, batchSize: recipe.batchSize, gradAccum: recipe.gradAccum,
                           shuffle: recipe.shuffle, seed: recipe.seed)
    }

    /// Continues a run after `steps` optimizer steps (optimizer state loaded by the caller).
    public func resume(afterSteps steps: Int) { completedSteps = steps }

    /// One optimizer step. `gradients` sees the accumulated, normalised gradients before
    /// clipping (for --dump-gradients).
    @discardableResult
    public func step(gradients: ((ParameterStore) throws -> Void)? = nil) throws -> StepResult {
        let s = completedSteps, store = model.store
        let micro = (0..<recipe.gradAccum).map { order.indices(step: s, micro: $0) }
        let targets = micro.reduce(0) { $0 + $1.reduce(0) { $0 + examples[$1].targetCount } }
        guard targets > 0 else { throw TrainingError.invalidData("step \(s + 1) has no target tokens") }
        store.zeroGrads()
        var total = PassLoss(ce: 0)
        let scale = Float(1.0 / Double(targets)), G = Double(micro.count)
        for indices in micro {
            let tokens = indices.flatMap { examples[$0].tokens }, ys = indices.flatMap { examples[$0].targets }
            let pass = try model.accumulateGradients(tokens: tokens, targets: ys, lossScale: scale, routerScale: Float(1 / G))
            total.ce += pass.ce; total.aux += pass.aux; total.z += pass.z; total.weighted += pass.weighted
        }
        try gradients?(store)
        let norm = store.gradientNorm()
        // clip_grad_norm_: scale by clip / (norm + 1e-6) when that is below 1.
        let coefficient = recipe.clip / (norm + 1e-6)
        if coefficient < 1 { store.scaleGrads(Float(coefficient)) }
        let lr = recipe.schedule.rate(step: s)
        recipe.optimizer.step(store, lr: lr, t: s + 1)
        completedSteps += 1
        let ce = total.ce / Double(targets)
        return StepResult(step: s + 1, loss: ce + total.weighted / G, ceLoss: ce, auxLoss: total.aux / G, zLoss: total.z / G,
                          lr: lr, gradNorm: norm,
                          tokens: micro.count * recipe.batchSize * model.seqLen)
    }

    /// Mean token cross-entropy over `examples` (validation), forward only.
    public func evaluate(_ examples: [Example]) throws -> Double {
        var sum = 0.0, count = 0
        var start = 0
        while start < examples.count {
            let chunk = examples[start..<min(start + model.maxSequences, examples.count)]
            sum += try model.loss(tokens: chunk.flatMap(\.tokens), targets: chunk.flatMap(\.targets))
            count += chunk.reduce(0) { $0 + $1.targetCount }
            start += chunk.count
        }
        return count > 0 ? sum / Double(count) : .nan
    }
}
