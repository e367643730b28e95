import Checkpoint
import Kernels

/// One named tensor of the store: its checkpoint name, shape and place in the buffers.
public struct ParameterSlot: Sendable {
    public let name: String
    public let shape: [Int]
    /// Offset in floats into params (f32 tensors only; frozen matrices kept in their
    /// stored bf16 / f16 live in their own tensor).
    public let offset: Int
    public let count: Int
    /// Offset in floats into grads, m and v; nil for a frozen tensor, which has none.
    public let stateOffset: Int?
    /// F32, or the stored BF16 / F16 of a frozen matrix.
    public let dtype: DType
    public var trainable: Bool { stateOffset != nil }
    /// AdamW decays only matrices (two or more dimensions), not norms or PolyCom coefficients.
    public var decays: Bool { shape.count >= 2 }
}

/// Tensors under their checkpoint (HF) names, llm.c style: f32 parameters, gradients and
/// AdamW's two moments are one allocation each, viewed through one (name, shape) table.
/// Only trainable tensors have gradients and moments. Frozen matrices stored in bf16 or
/// f16 stay in that dtype (their products widen them on the fly, exactly); everything else
/// is f32. MoE experts and LoRA adapters are further tables of the same kind.
public final class ParameterStore: TensorStorage, @unchecked Sendable {
    public let slots: [ParameterSlot]
    private let index: [String: Int]
    public let params: FloatBuffer
    /// Gradients and AdamW's first and second moments of the trainable tensors.
    public let grads: FloatBuffer
    public let m: FloatBuffer
    public let v: FloatBuffer
    /// The frozen matrices kept in their stored dtype, by slot.
    private var kept: [Tensor?]
    /// The f32 panel their products widen rows into (Matrix.applyWidened), shared: passes
    /// run one product at a time.
    public let panelScratch: FloatBuffer

    /// Whether a frozen tensor of this shape stored as `dtype` stays in that dtype.
    public static func keepsStoredDType(_ dtype: DType, shape: [Int]) -> Bool {
        shape.count == 2 && (dtype == .bf16 || dtype == .f16)
    }

    /// Zeroed buffers for `specs`, each tensor on a 64-byte boundary; the `frozen` ones get
    /// no gradient or moments, and those `stored` names in bf16 / f16 keep that dtype.
    public init(_ specs: [WeightSpec], frozen: Set<String> = [], stored: [String: DType] = [:]) {
        var slots: [ParameterSlot] = [], offset = 0, state = 0
        func aligned(_ n: Int) -> Int { (n + 15) / 16 * 16 }
        for spec in specs {
            let isFrozen = frozen.contains(spec.name)
            let dtype = stored[spec.name].flatMap { isFrozen && Self.keepsStoredDType($0, shape: spec.shape) ? $0 : nil } ?? .f32
            slots.append(ParameterSlot(name: spec.name, shape: spec.shape, offset: dtype == .f32 ? offset : -1, count: spec.count,
                                       stateOffset: isFrozen ? nil : state, dtype: dtype))
            if dtype == .f32 { offset += aligned(spec.count) }
            if !isFrozen { state += aligned(spec.count) }
        }
        self.slots = slots
        index = Dictionary(uniqueKeysWithValues: slots.enumerated().map { ($1.name, $0) })
        params = FloatBuffer(count: offset)
        grads = FloatBuffer(count: state)
        m = FloatBuffer(count: state)
        v = FloatBuffer(count: state)
        kept = Array(repeating: nil, count: slots.count)
        panelScratch = FloatBuffer(count: slots.filter { $0.dtype != .f32 }.map { min(Matrix.panelRows, $0.shape[0]) * $0.shape[1] }.max() ?? 0)
    }

    /// The store for `specs` with the bound checkpoint tensors' values (copied: f32, or the
    /// stored dtype of frozen bf16 / f16 matrices).
    public convenience init(_ specs: [WeightSpec], values: [String: Tensor], frozen: Set<String> = []) throws {
        self.init(specs, frozen: frozen, stored: values.mapValues(\.dtype))
        for (i, slot) in slots.enumerated() {
            guard let t = values[slot.name], t.count == slot.count else {
                throw TrainingError.invalidModel("tensor \(slot.name) is missing or mis-shaped")
            }
            if slot.dtype == .f32 { t.copyFloats(into: params.pointer + slot.offset) }
            else { kept[i] = Tensor(dtype: t.dtype, shape: slot.shape, copying: t.bytes) }
        }
    }

    public var names: [String] { slots.map(\.name) }
    public var parameterCount: Int { slots.reduce(0) { $0 + $1.count } }
    public var trainableCount: Int { slots.reduce(0) { $0 + ($1.trainable ? $1.count : 0) } }
    /// Bytes of the weights as held (f32, or the kept dtype).
    public var weightBytes: Int { slots.reduce(0) { $0 + $1.count * $1.dtype.byteSize } }

    public func slot(_ name: String) -> ParameterSlot? { index[name].map { slots[$0] } }

    public func isTrainable(_ name: String) -> Bool { slot(name)?.trainable ?? false }

    /// The f32 values of a tensor held in f32.
    public func param(_ name: String) -> UnsafeMutablePointer<Float> {
        let s = slot(name)!
        precondition(s.dtype == .f32, "\(name) is kept in \(s.dtype): read it through tensor(_:)")
        return params.pointer + s.offset
    }

    /// The gradient of a trainable tensor; nil when frozen.
    public func grad(_ name: String) -> UnsafeMutablePointer<Float>? { slot(name)!.stateOffset.map { grads.pointer + $0 } }

    public func zeroGrads() { grads.fill(0) }

    /// A read-only view of one tensor (no copy): its parameters (f32 or the kept dtype), or
    /// with `buffer` one of grads / m / v (trainable tensors only).
    public func tensor(_ name: String, in buffer: FloatBuffer? = nil) -> Tensor {
        let i = index[name]!, s = slots[i]
        if buffer == nil || buffer === params, let k = kept[i] { return k }
        let base: UnsafeMutablePointer<Float>
        if let buffer, buffer !== params {
            precondition(s.trainable, "\(name) is frozen: it has no gradient or optimizer state")
            base = buffer.pointer + s.stateOffset!
        } else {
            base = params.pointer + s.offset
        }
        return Tensor(dtype: .f32, shape: s.shape, bytes: UnsafeRawBufferPointer(start: base, count: s.count * 4), storage: self)
    }

    /// Every tensor of `buffer` by name (views): what the inference model and the writer
    /// take. grads, m and v hold the trainable tensors only.
    public func tensors(in buffer: FloatBuffer? = nil, trainableOnly: Bool = false) -> [String: Tensor] {
        let state = buffer != nil && buffer !== params
        var out: [String: Tensor] = [:]
        for s in slots where s.trainable || !(trainableOnly || state) { out[s.name] = tensor(s.name, in: buffer) }
        return out
    }

    /// Global L2 norm of the trainable gradients (double accumulation).
    public func gradientNorm() -> Double {
        var sum = 0.0
        for s in slots {
            guard let o = s.stateOffset else { continue }
            let g = grads.pointer + o
            for j in 0..<s.count { sum += Double(g[j]) * Double(g[j]) }
        }
        return sum.squareRoot()
    }

    public func scaleGrads(_ factor: Float) {
        for s in slots {
            guard let o = s.stateOffset else { continue }
            let g = grads.pointer + o
            for j in 0..<s.count { g[j] *= factor }
        }
    }
}
