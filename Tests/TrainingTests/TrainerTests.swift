import Checkpoint
import TestSupport
@testable import Training
import XCTest

/// Ten optimizer steps of the recipe against PyTorch (AdamW, warmup + cosine, clipping).
final class TrainerTests: XCTestCase {
    func testTenStepsMatchPyTorch() throws {
        for name in DecoderTrainingModelTests.models + DecoderTrainingModelTests.moeModels {
            let ref = try reference("training-" + name)
            let blocks = try ref.tensor("steps_blocks")
            let T = blocks.shape[1], ids = blocks.ints()
            let examples = stride(from: 0, to: ids.count, by: T).map { start -> Example in
                let toks = ids[start..<start + T].map(Int32.init)
                return Example(tokens: toks, targets: Array(toks.dropFirst()) + [-100])
            }
            let rr = try doubles(ref, "steps_recipe")
            let recipe = TrainingRecipe(
                schedule: LearningRateSchedule(peak: rr[0], warmupSteps: Int(rr[1]), totalSteps: Int(rr[2]), minRatio: rr[3]),
                optimizer: AdamW(beta1: rr[5], beta2: rr[6], eps: rr[7], weightDecay: rr[4]),
                clip: rr[8], batchSize: Int(rr[9]), gradAccum: Int(rr[10]), shuffle: false, seed: 0)
            let (aux, z) = try DecoderTrainingModelTests.routerCoefficients(ref)
            let model = try DecoderTrainingModel.load(path: fixtureModel(name), seqLen: T, maxSequences: recipe.batchSize,
                                                      routerAux: aux, routerZ: z)
            let moe = ref.contains("steps_ce_loss")
            let trainer = try Trainer(model: model, recipe: recipe, examples: examples)
            let losses = try doubles(ref, "steps_loss"), lrs = try doubles(ref, "steps_lr"), norms = try doubles(ref, "steps_grad_norm")
            for s in 0..<losses.count {
                let result = try trainer.step()
                XCTAssertEqual(result.loss, losses[s], accuracy: 1e-4 * losses[s], "\(name) step \(s + 1) loss")
                XCTAssertEqual(result.lr, lrs[s], accuracy: 1e-12 * lrs[s], "\(name) step \(s + 1) lr")
                XCTAssertEqual(result.gradNorm, norms[s], accuracy: 1e-4 * norms[s], "\(name) step \(s + 1) grad_norm")
                if moe {
                    for (key, got) in [("ce_loss", result.ceLoss), ("aux_loss", result.auxLoss), ("z_loss", result.zLoss)] {
                        let expected = try doubles(ref, "steps_" + key)[s]
                        XCTAssertEqual(got, expected, accuracy: 1e-4 * abs(expected), "\(name) step \(s + 1) \(key)")
                    }
                }
                if moe && s == 0 {
                    let counts = try ref.tensor("steps_router_counts_first").ints()
                    XCTAssertEqual(model.takeRouterCounts()?.flatMap { $0 }, counts, "\(name): tokens per expert per layer over the first step")
                }
            }
        }
    }

    /// The step's loss and gradients are divided by the target tokens of the whole step, not
    /// averaged per micro-batch: two micro-batches with 7 and 2 targets, against their
    /// summed losses and gradients from separate unscaled passes.
    func testLossAndGradientsAreNormalisedByTheWholeStepsTargets() throws {
        let T = 8
        let model = try DecoderTrainingModel.load(path: fixtureModel("polynorm-f32"), seqLen: T, maxSequences: 1)
        let tokens: [[Int32]] = [[1, 5, 9, 4, 7, 3, 2, 8], [6, 2, 11, 4, 4, 9, 1, 3]]
        var targets = tokens.map { Array($0.dropFirst()) + [-100] }
        for t in 0..<5 { targets[1][t] = -100 }
        let counts = targets.map { $0.filter { $0 != -100 }.count }
        XCTAssertEqual(counts, [7, 2])
        let store = model.store
        var sums: [Double] = [], grads: [[String: [Float]]] = []
        for (x, y) in zip(tokens, targets) {
            store.zeroGrads()
            sums.append(try model.accumulateGradients(tokens: x, targets: y, lossScale: 1, routerScale: 1).ce)
            grads.append(Dictionary(uniqueKeysWithValues: store.names.map { ($0, store.tensor($0, in: store.grads).floats()) }))
        }
        let n = Double(counts[0] + counts[1])
        let recipe = TrainingRecipe(schedule: LearningRateSchedule(peak: 1e-3, warmupSteps: 0, totalSteps: 1, minRatio: 0),
                                    optimizer: AdamW(), clip: 1e9, batchSize: 1, gradAccum: 2, shuffle: false, seed: 0)
        let trainer = try Trainer(model: model, recipe: recipe, examples: zip(tokens, targets).map { Example(tokens: $0, targets: $1) })
        var checked = 0
        let result = try trainer.step { store in
            for name in store.names {
                let expected = zip(grads[0][name]!, grads[1][name]!).map { ($0 + $1) / Float(n) }
                let scale = max(expected.map { abs($0) }.max()!, Float.leastNormalMagnitude)
                let d = maxAbsDiff(store.tensor(name, in: store.grads).floats(), expected)
                XCTAssert(d <= 1e-5 * scale, "\(name): max |Δ| \(d) vs max |ref| \(scale)")
                checked += 1
            }
        }
        XCTAssertEqual(checked, store.names.count)
        XCTAssertEqual(result.loss, (sums[0] + sums[1]) / n, accuracy: 1e-6 * result.loss)
        let perMicroBatch = (sums[0] / Double(counts[0]) + sums[1] / Double(counts[1])) / 2
        XCTAssertGreaterThan(abs(result.loss - perMicroBatch), 1e-3 * result.loss, "the two normalisations differ on this batch")
    }

    func doubles(_ file: SafeTensorsFile, _ name: String) throws -> [Double] {
        try file.tensor(name).bytes.bindMemory(to: Double.self).map { $0 }
    }
}
