import Dispatch
import Foundation
import Model
import TestSupport
import XCTest

/// Work buffers are kept per model and reused; passes running at once never share them.
final class WorkspaceTests: XCTestCase {
    func testBuffersAreReusedAcrossPassesOfTheSameOrSmallerShape() throws {
        for name in ["polynorm-f32", "olmoe-swiglu-e6k3-fused"] {
            let model = try Architectures.load(path: fixtureModel(name))
            let ref = try reference(name)
            let long = try ref.tensor("tokens_40").ints(), short = try ref.tensor("tokens_7").ints()
            XCTAssertEqual(model.workspaceCapacity, 0)
            let first = try model.logits(for: long).buffer.array
            let held = model.workspaceCapacity
            XCTAssertGreaterThan(held, 0)
            _ = try model.logits(for: short)
            // Stale contents of the reused buffers leave no trace.
            XCTAssertEqual(try model.logits(for: long).buffer.array, first, name)
            XCTAssertEqual(model.workspaceCapacity, held, "\(name): no pass of the same or a smaller shape allocates")
            assertClose(first, try ref.tensor("logits_40").floats(), tolerance: 1e-4, name)
        }
    }

    /// Decode steps grow the attention scores with the context; after one pass over a
    /// context length, a second decode loop over it allocates nothing.
    func testDecodeLoopStopsAllocating() throws {
        let model = try Architectures.load(path: fixtureModel("llama-swiglu-gqa"))
        let tokens = try reference("llama-swiglu-gqa").tensor("tokens_40").ints()
        func decode() throws {
            let cache = model.makeCache(capacity: 40)
            _ = try model.forward([SequenceChunk(cache: cache, tokens: Array(tokens[0..<13]))])
            for t in 13..<40 { _ = try model.forward([SequenceChunk(cache: cache, tokens: [tokens[t]])]) }
        }
        try decode()
        let held = model.workspaceCapacity
        try decode()
        XCTAssertEqual(model.workspaceCapacity, held)
    }

    /// Four passes at once on one model (each takes its own workspace) give what they give alone.
    func testConcurrentPassesOnOneModel() throws {
        let name = "olmoe-polynorm-e6k3-fused"
        let model = try Architectures.load(path: fixtureModel(name))
        let tokens = try reference(name).tensor("tokens_40").ints()
        let inputs = (0..<4).map { Array(tokens[($0 * 5)..<($0 * 5 + 20)]) }
        let alone = try inputs.map { try model.logits(for: $0).buffer.array }
        let results = Results(count: inputs.count)
        DispatchQueue.concurrentPerform(iterations: 4 * inputs.count) { i in
            results.set(i % inputs.count, (try? model.logits(for: inputs[i % inputs.count]).buffer.array) ?? [])
        }
        for (i, expected) in alone.enumerated() { XCTAssertEqual(results.get(i), expected, "input \(i)") }
    }
}

/// Last value written per index, from many threads.
private final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [[Float]]
    init(count: Int) { values = Array(repeating: [], count: count) }
    func set(_ i: Int, _ v: [Float]) { lock.withLock { values[i] = v } }
    func get(_ i: Int) -> [Float] { lock.withLock { values[i] } }
}
