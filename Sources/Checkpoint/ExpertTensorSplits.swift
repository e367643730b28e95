import Kernels

/// Fused expert tensors → the canonical per-expert matrices
/// `model.layers.{i}.mlp.experts.{e}.{gate,up,down}_proj.weight`.
///
/// Per-expert 2-D matrices are the canonical form because every fused layout stores each
/// expert's rows contiguously, so splitting costs nothing (views on the mapped file) and
/// the model, `ParameterCount` and the error messages deal with one shape per tensor.
/// The one exception is megablocks' `w2`, which stores down_proj transposed: it is copied
/// once at load, keeping its dtype.
extension TensorNameAliases {
    enum ExpertSplit {
        /// transformers 5: [E, 2F, D], per expert rows [gate; up].
        case gateUp
        /// [E, F, D] (fused PolyNorm experts).
        case up
        /// [E, D, F].
        case down
        /// OLMo / megablocks [E*F, D]: w1 is the gate of GLU experts, else the up projection.
        case megablocksW1
        /// OLMo / megablocks [E*F, D]: the up projection of GLU experts.
        case megablocksV1
        /// OLMo / megablocks [E*F, D]: expert e's down_proj is rows e*F..<(e+1)*F transposed.
        case megablocksW2
    }

    static let expertSplits: [(from: String, split: ExpertSplit)] = [
        ("model.layers.#.mlp.experts.gate_up_proj", .gateUp),
        ("model.layers.#.mlp.experts.up_proj", .up),
        ("model.layers.#.mlp.experts.down_proj", .down),
        ("transformer.blocks.#.ffn.experts.mlp.w1", .megablocksW1),
        ("transformer.blocks.#.ffn.experts.mlp.v1", .megablocksV1),
        ("transformer.blocks.#.ffn.experts.mlp.w2", .megablocksW2),
    ]

    /// The per-expert tensors of fused `t` (suffixes after `mlp.experts.`), or nil when the
    /// config has no experts or the layout does not apply (the tensor is then reported as
    /// unexpected by `bind`). `gated`: the model expects gate projections (SwiGLU experts),
    /// which decides what megablocks' `w1` holds. Throws, naming the tensor, when its shape
    /// does not fit.
    static func splitExperts(_ t: Tensor, _ split: ExpertSplit, config: ModelConfig, gated: Bool,
                             name: String) throws -> [(String, Tensor)]? {
        guard let E = config.numExperts, E > 0 else { return nil }
        let F = config.intermediateSize, D = config.hiddenSize
        func expect(_ shape: [Int], _ meaning: String) throws {
            guard t.shape == shape else {
                throw CheckpointError.tensorMismatch(missing: [], unexpected: [], misshaped: [
                    "\(name) is \(t.shape), expected \(shape) (\(meaning))",
                ])
            }
        }
        let experts = 0..<E
        switch split {
        case .gateUp:
            guard gated else { return nil }
            try expect([E, 2 * F, D], "num_experts, 2 × intermediate_size, hidden_size")
            return experts.flatMap { e in
                [("\(e).gate_proj.weight", view(t, firstRow: e * 2 * F, rows: F, cols: D)),
                 ("\(e).up_proj.weight", view(t, firstRow: e * 2 * F + F, rows: F, cols: D))]
            }
        case .up:
            try expect([E, F, D], "num_experts, intermediate_size, hidden_size")
            return experts.map { e in ("\(e).up_proj.weight", view(t, firstRow: e * F, rows: F, cols: D)) }
        case .down:
            try expect([E, D, F], "num_experts, hidden_size, intermediate_size")
            return experts.map { e in ("\(e).down_proj.weight", view(t, firstRow: e * D, rows: D, cols: F)) }
        case .megablocksW1, .megablocksV1:
            if split == .megablocksV1 && !gated { return nil }
            try expect([E * F, D], "num_experts × intermediate_size, hidden_size")
            let target = split == .megablocksW1 && gated ? "gate_proj" : "up_proj"
            return experts.map { e in ("\(e).\(target).weight", view(t, firstRow: e * F, rows: F, cols: D)) }
        case .megablocksW2:
            try expect([E * F, D], "num_experts × intermediate_size, hidden_size; down_proj transposed")
            return experts.map { e in ("\(e).down_proj.weight", transposed(view(t, firstRow: e * F, rows: F, cols: D))) }
        }
    }

    /// A [rows, cols] view starting at row `firstRow` of `t` read as a stack of rows of
    /// width `cols` (any rank; no copy).
    static func view(_ t: Tensor, firstRow: Int, rows: Int, cols: Int) -> Tensor {
        let rowBytes = cols * t.dtype.byteSize
        let slice = UnsafeRawBufferPointer(rebasing: t.bytes[(firstRow * rowBytes)..<((firstRow + rows) * rowBytes)])
        return Tensor(dtype: t.dtype, shape: [rows, cols], bytes: slice, storage: t.storage)
    }

    /// A copy of 2-D `t` transposed, in the same dtype.
    static func transposed(_ t: Tensor) -> Tensor {
        let (r, c, size) = (t.shape[0], t.shape[1], t.dtype.byteSize)
        let storage = ByteStorage(count: t.bytes.count)
        let src = t.bytes.baseAddress!, dst = storage.pointer
        switch size {
        case 2: transpose(UInt16.self, src, dst, rows: r, cols: c)
        case 4: transpose(UInt32.self, src, dst, rows: r, cols: c)
        default: transpose(UInt64.self, src, dst, rows: r, cols: c)
        }
        return Tensor(dtype: t.dtype, shape: [c, r], bytes: UnsafeRawBufferPointer(start: dst, count: t.bytes.count),
                      storage: storage)
    }

    private static func transpose<T>(_: T.Type, _ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, rows r: Int, cols c: Int) {
        let s = src.assumingMemoryBound(to: T.self), d = dst.assumingMemoryBound(to: T.self)
        for i in 0..<r {
            for j in 0..<c { d[j * r + i] = s[i * c + j] }
        }
    }
}
