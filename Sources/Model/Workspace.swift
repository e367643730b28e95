import Foundation
import Kernels

/// The work buffers of forward passes, kept between calls: each grows when a larger batch
/// (or a longer context) needs more and is reused otherwise, so a steady decode loop
/// allocates nothing. One pass at a time uses a workspace (`WorkspacePool`). A backward
/// pass will read its saved activations from here.
public final class Workspace {
    enum Slot: Int, CaseIterable {
        /// [N, D] residual stream, normed input of a block, a block's output.
        case hidden, normed, delta
        /// Attention: [N, H·hd] queries, [N, KV·hd] keys and values, [N, H·hd] context, scores.
        case q, k, v, context, scores
        /// RoPE tables [N, hd/2].
        case cos, sin
        /// MLP (or one expert): [N, F] up and gate projections.
        case up, gate
        /// Experts: [n, D] gathered inputs and outputs; router [N, E].
        case expertIn, expertOut, router
        /// [R, D] final norm of the rows that get logits.
        case selected
    }

    private var buffers = Slot.allCases.map { _ in FloatBuffer(count: 0) }

    /// `count` floats for `slot`; contents are whatever the last pass left. Growing frees
    /// the old buffer, so take each slot once per use.
    func buffer(_ slot: Slot, _ count: Int) -> UnsafeMutablePointer<Float> {
        let b = buffers[slot.rawValue]
        if b.count >= count { return b.pointer }
        let grown = FloatBuffer(count: max(count, 2 * b.count))
        buffers[slot.rawValue] = grown
        return grown.pointer
    }

    /// Floats held, all slots.
    public var capacity: Int { buffers.reduce(0) { $0 + $1.count } }
}

/// Workspaces of one model: a pass takes one and gives it back, so passes running at the
/// same time (tests, several engines on one model) never share buffers; the engine's one
/// pass at a time reuses a single workspace.
final class WorkspacePool: @unchecked Sendable {
    private let lock = NSLock()
    private var idle: [Workspace] = []

    func with<R>(_ body: (Workspace) throws -> R) rethrows -> R {
        let work = lock.withLock { idle.popLast() } ?? Workspace()
        defer { lock.withLock { idle.append(work) } }
        return try body(work)
    }

    /// Floats held by idle workspaces.
    var capacity: Int { lock.withLock { idle.reduce(0) { $0 + $1.capacity } } }
}
