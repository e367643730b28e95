import Checkpoint
import Foundation
import Model
import TestSupport
@testable import Training
import XCTest

final class CheckpointSaverTests: XCTestCase {
    /// Past the shard limit the weights go to shards with an index the loader reads back
    /// exactly; a second save replaces the first in place.
    func testShardedSaveLoadsBackAndReplacesThePreviousSave() throws {
        let model = try DecoderTrainingModel.load(path: fixtureModel("polynorm-f32"), seqLen: 4, maxSequences: 1)
        let out = temporaryDirectory() + "/out"
        var saver = CheckpointSaver(out: out, source: fixtureModel("polynorm-f32"), dtype: .f32)
        saver.shardBytes = 200_000
        let state = TrainerState(step: 1, seed: 0, examples: 1, seqLen: 4, batchSize: 1, gradAccum: 1, tokens: 4, elapsed: 0)
        try saver.save(model.store, .init(state: state, trainingArgs: [:], metrics: []))
        model.store.params[0] += 1
        try saver.save(model.store, .init(state: state, trainingArgs: [:], metrics: []))
        let files = try FileManager.default.contentsOfDirectory(atPath: out)
        XCTAssertTrue(files.contains("model.safetensors.index.json"), "\(files)")
        XCTAssertGreaterThan(files.filter { $0.hasPrefix("model-0000") }.count, 2)
        let folder = try CheckpointFolder(path: out)
        let bound = try folder.bind(try Architectures.of(folder.config).weights(folder.config))
        for slot in model.store.slots {
            XCTAssertEqual(bound[slot.name]!.floats(), model.store.tensor(slot.name).floats(), slot.name)
        }
        let parent = (out as NSString).deletingLastPathComponent
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: parent), ["out"])
    }

    func testBF16SaveRoundsAndKeepsF32MasterWeightsForResume() throws {
        let model = try DecoderTrainingModel.load(path: fixtureModel("polyrelu-tied"), seqLen: 4, maxSequences: 1)
        let out = temporaryDirectory() + "/out"
        let state = TrainerState(step: 3, seed: 0, examples: 1, seqLen: 4, batchSize: 1, gradAccum: 1, tokens: 4, elapsed: 0)
        try CheckpointSaver(out: out, source: fixtureModel("polyrelu-tied"), dtype: .bf16)
            .save(model.store, .init(state: state, trainingArgs: [:], metrics: []))
        let weights = try SafeTensorsFile(path: out + "/model.safetensors")
        let embed = try weights.tensor("model.embed_tokens.weight")
        XCTAssertEqual(embed.dtype, .bf16)
        XCTAssertFalse(weights.contains("lm_head.weight"), "tied: no head tensor")
        XCTAssertEqual(embed.floats(), model.store.tensor("model.embed_tokens.weight").converted(to: .bf16).floats())
        let optimizer = try SafeTensorsFile(path: out + "/optimizer.safetensors")
        XCTAssertEqual(try optimizer.tensor("master.model.embed_tokens.weight").floats(), model.store.tensor("model.embed_tokens.weight").floats())
        XCTAssertEqual(try CheckpointFolder(path: out).config.torchDtype, "bfloat16")
    }
}
