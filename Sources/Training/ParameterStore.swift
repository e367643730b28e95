import Checkpoint
import Kernels

/// One named tensor of the store: its checkpoint name, shape and place in every buffer.
public struct ParameterSlot: Sendable {
    public let name: String
    public let shape: [Int]
    /// Offset in floats into params, grads, m and v alike.
    public let offset: Int
    public let count: Int
    /// AdamW decays only matrices (two or more dimensions), not norms or PolyCom coefficients.
    public var decays: Bool { shape.count >= 2 }
}

/// Trainable f32 tensors under their checkpoint (HF) names, llm.c style: parameters,
/// gradients and AdamW's two moments are one allocation each, viewed through one
/// (name, shape) table. MoE experts and LoRA adapters are further tables of the same kind.
public final class ParameterStore: TensorStorage, @unchecked Sendable {
    public let slots: [ParameterSlot]
    private let index: [String: Int]
    public let totalCount: Int
    public let params: FloatBuffer
    public let grads: FloatBuffer
    /// AdamW's first and second moments.
    public let m: FloatBuffer
    public let v: FloatBuffer
    /// Frozen tensors get no gradient and no update.
    public private(set) var trainable: [Bool]

    /// Zeroed buffers for `specs`; each tensor starts on a 64-byte boundary. A `frozen`
    /// store (a LoRA run's base weights) holds no gradients or optimizer moments.
    public init(_ specs: [WeightSpec], frozen: Bool = false) {
        var slots: [ParameterSlot] = [], offset = 0
        for spec in specs {
            slots.append(ParameterSlot(name: spec.name, shape: spec.shape, offset: offset, count: spec.count))
            offset += (spec.count + 15) / 16 * 16
        }
        self.slots = slots
        index = Dictionary(uniqueKeysWithValues: slots.enumerated().map { ($1.name, $0) })
        totalCount = offset
        params = FloatBuffer(count: offset)
        let state = frozen ? 0 : offset
        grads = FloatBuffer(count: state)
        m = FloatBuffer(count: state)
        v = FloatBuffer(count: state)
        trainable = Array(repeating: !frozen, count: slots.count)
    }

    /// The store for `specs` with values converted to f32 from bound checkpoint tensors.
    public convenience init(_ specs: [WeightSpec], values: [String: Tensor], frozen: Bool = false) throws {
        self.init(specs, frozen: frozen)
        for slot in slots {
            guard let t = values[slot.name], t.count == slot.count else {
                throw TrainingError.invalidModel("tensor \(slot.name) is missing or mis-shaped")
            }
            t.copyFloats(into: params.pointer + slot.offset)
        }
    }

    public var names: [String] { slots.map(\.name) }
    public var parameterCount: Int { slots.reduce(0) { $0 + $1.count } }
    public var trainableCount: Int { zip(slots, trainable).reduce(0) { $0 + ($1.1 ? $1.0.count : 0) } }

    public func slot(_ name: String) -> ParameterSlot? { index[name].map { slots[$0] } }

    public func isTrainable(_ name: String) -> Bool { index[name].map { trainable[$0] } ?? false }

    public func freeze(_ names: Set<String>) {
        for (i, s) in slots.enumerated() where names.contains(s.name) { trainable[i] = false }
    }

    /// Pointers into the parameter / gradient buffers (gradient nil when frozen).
    public func param(_ name: String) -> UnsafeMutablePointer<Float> { params.pointer + slot(name)!.offset }
    public func grad(_ name: String) -> UnsafeMutablePointer<Float>? {
        let i = index[name]!
        return trainable[i] ? grads.pointer + slots[i].offset : nil
    }

    public func zeroGrads() { grads.fill(0) }

    /// A read-only F32 view of one buffer's tensor (no copy); `buffer` defaults to params.
    public func tensor(_ name: String, in buffer: FloatBuffer? = nil) -> Tensor {
        let s = slot(name)!
        let base = (buffer ?? params).pointer + s.offset
        return Tensor(dtype: .f32, shape: s.shape, bytes: UnsafeRawBufferPointer(start: base, count: s.count * 4), storage: self)
    }

    /// Every tensor of `buffer` by name (views): what the inference model and the writer take.
    public func tensors(in buffer: FloatBuffer? = nil, trainableOnly: Bool = false) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (i, s) in slots.enumerated() where !trainableOnly || trainable[i] { out[s.name] = tensor(s.name, in: buffer) }
        return out
    }

    /// Global L2 norm of the trainable gradients (double accumulation).
    public func gradientNorm() -> Double {
        var sum = 0.0
        for (i, s) in slots.enumerated() where trainable[i] {
            let g = grads.pointer + s.offset
            for j in 0..<s.count { sum += Double(g[j]) * Double(g[j]) }
        }
        return sum.squareRoot()
    }

    public func scaleGrads(_ factor: Float) {
        for (i, s) in slots.enumerated() where trainable[i] {
            let g = grads.pointer + s.offset
            for j in 0..<s.count { g[j] *= factor }
        }
    }
}
