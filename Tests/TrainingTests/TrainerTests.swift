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
            let T = blocks.shape[1], ids = try blocks.ints()
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

    func doubles(_ file: SafeTensorsFile, _ name: String) throws -> [Double] {
        try file.tensor(name).bytes.bindMemory(to: Double.self).map { $0 }
    }
}
