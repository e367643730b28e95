import Checkpoint
import Foundation
import JSON
import Kernels
import Model

/// A LoRA adapter's settings, as PEFT's `LoraConfig` has them.
public struct LoRAConfig: Sendable, Equatable {
    public var rank: Int
    public var alpha: Double
    /// Module names (the last component of a projection's path: q_proj, up_proj, ...).
    public var targets: [String]
    public var dropout: Double

    /// PEFT's default for Llama-family models.
    public static let defaultTargets = ["q_proj", "v_proj"]

    public init(rank: Int, alpha: Double, targets: [String] = defaultTargets, dropout: Double = 0) {
        (self.rank, self.alpha, self.targets, self.dropout) = (rank, alpha, targets, dropout)
    }

    /// α / r (PEFT without rsLoRA).
    public var scaling: Float { Float(alpha / Double(rank)) }

    func validate() throws {
        guard rank >= 1 else { throw TrainingError.invalidArgument("--lora-rank must be at least 1") }
        guard alpha > 0 else { throw TrainingError.invalidArgument("--lora-alpha must be positive") }
        guard (0..<1).contains(dropout) else { throw TrainingError.invalidArgument("--lora-dropout must be in [0, 1)") }
        guard !targets.isEmpty else { throw TrainingError.invalidArgument("--lora-targets names no module") }
    }

    /// adapter_config.json as PEFT writes it.
    func json(baseModel: String) -> JSONValue {
        ["peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": .string(baseModel),
         "r": .int(rank), "lora_alpha": .double(alpha), "lora_dropout": .double(dropout),
         "target_modules": .array(targets.sorted().map { .string($0) }), "bias": "none", "fan_in_fan_out": false,
         "inference_mode": true, "init_lora_weights": true, "use_rslora": false, "use_dora": false,
         "modules_to_save": .null, "layers_to_transform": .null, "layers_pattern": .null, "rank_pattern": .object(JSONObject()),
         "alpha_pattern": .object(JSONObject()), "revision": .null]
    }

    /// A PEFT adapter folder's adapter_config.json.
    public init(adapterFolder dir: String) throws {
        let folder = try LoRAAdapterFolder(path: dir)
        self.init(rank: folder.rank, alpha: folder.alpha, targets: folder.targets, dropout: folder.dropout)
        try validate()
    }
}

/// One adapted projection y = W x + s · B (A x̃), x̃ the input after dropout, s = α / r.
/// Keeps what its backward needs for one pass (u = A x̃ and the dropout mask).
final class LoRAAdapter {
    let a: Param                // [r, I]
    let b: Param                // [O, r]
    let rank: Int, inFeatures: Int, outFeatures: Int
    let scaling: Float
    let dropout: Float
    /// Position among the model's adapters: seeds its dropout masks.
    let index: Int
    let u: FloatBuffer          // [rows, r] A x̃ of the pass
    let du: FloatBuffer         // [rows, r] scratch
    let mask: FloatBuffer?      // [rows, I] kept / (1 − p), or 0
    let dropped: FloatBuffer?   // [rows, I] x̃ scratch
    /// The pass whose dropout mask `mask` holds (a recomputed forward reuses it).
    var maskPass = -1

    init(a: Param, b: Param, rank: Int, inFeatures: Int, outFeatures: Int, scaling: Float, dropout: Float, index: Int, rows: Int) {
        (self.a, self.b, self.rank, self.inFeatures, self.outFeatures, self.index) = (a, b, rank, inFeatures, outFeatures, index)
        (self.scaling, self.dropout) = (scaling, dropout)
        u = FloatBuffer(count: rows * rank); du = FloatBuffer(count: rows * rank)
        mask = dropout > 0 ? FloatBuffer(count: rows * inFeatures) : nil
        dropped = dropout > 0 ? FloatBuffer(count: rows * inFeatures) : nil
    }

    /// The input after dropout (x itself when dropout is off for this pass).
    private func input(_ x: UnsafePointer<Float>, N: Int, state: LoRAState) -> UnsafePointer<Float> {
        guard let mask, let dropped, state.training else { return x }
        if maskPass != state.pass {
            var rng = SplitMix64(seed: state.seed ^ (UInt64(state.pass) << 20 | UInt64(index)) &* 0x9E37_79B9_7F4A_7C15)
            let keep = 1 / (1 - dropout)
            for i in 0..<(N * inFeatures) { mask[i] = Float(rng.next() >> 40) / Float(1 << 24) < dropout ? 0 : keep }
            maskPass = state.pass
        }
        for i in 0..<(N * inFeatures) { dropped[i] = x[i] * mask[i] }
        return UnsafePointer(dropped.pointer)
    }

    /// y[N, O] += s · (x̃ Aᵀ) Bᵀ
    func forward(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, N: Int, state: LoRAState) {
        let xd = input(x, N: N, state: state)
        Linear.forward(u.pointer, xd, a.w, N: N, I: inFeatures, O: rank)
        BLAS.sgemm(transB: true, m: N, n: outFeatures, k: rank, alpha: scaling, a: u.pointer, lda: rank, b: b.w, ldb: rank,
                   beta: 1, c: y, ldc: outFeatures)
    }

    /// dB += s · dyᵀ u;  du = s · dy B;  dA += duᵀ x̃;  dx += (du A) ⊙ mask.
    func backward(dx: UnsafeMutablePointer<Float>?, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, N: Int, state: LoRAState) {
        let xd = input(x, N: N, state: state)
        if let dB = b.g {
            BLAS.sgemm(transA: true, m: outFeatures, n: rank, k: N, alpha: scaling, a: dy, lda: outFeatures, b: u.pointer, ldb: rank,
                       beta: 1, c: dB, ldc: rank)
        }
        BLAS.sgemm(m: N, n: rank, k: outFeatures, alpha: scaling, a: dy, lda: outFeatures, b: b.w, ldb: rank, c: du.pointer, ldc: rank)
        if let dA = a.g {
            BLAS.sgemm(transA: true, m: rank, n: inFeatures, k: N, a: du.pointer, lda: rank, b: xd, ldb: inFeatures, beta: 1,
                       c: dA, ldc: inFeatures)
        }
        guard let dx else { return }
        if let mask, state.training, let scratch = dropped {
            BLAS.sgemm(m: N, n: inFeatures, k: rank, a: du.pointer, lda: rank, b: a.w, ldb: inFeatures, c: scratch.pointer, ldc: inFeatures)
            for i in 0..<(N * inFeatures) { dx[i] += scratch[i] * mask[i] }
        } else {
            BLAS.sgemm(m: N, n: inFeatures, k: rank, a: du.pointer, lda: rank, b: a.w, ldb: inFeatures, beta: 1, c: dx, ldc: inFeatures)
        }
    }
}

/// What the adapters share during a pass: whether dropout is on, and which pass it is.
final class LoRAState {
    var training = false
    var pass = 0
    let seed: UInt64
    init(seed: UInt64) { self.seed = seed }
}

/// A model's LoRA adapters: their tensors in their own ParameterStore under PEFT's names
/// (`base_model.model.<module>.lora_A.weight` [r, in], `.lora_B.weight` [out, r]) — the
/// trainable tensors of a LoRA run — and the adapter of each adapted base tensor.
public final class LoRAAdapters {
    public let config: LoRAConfig
    public let store: ParameterStore
    let state: LoRAState
    /// Adapters by the base tensor they adapt (`model.layers.0.self_attn.q_proj.weight`).
    let byBase: [String: LoRAAdapter]

    static func aName(_ base: String) -> String { "base_model.model." + base.dropLast(".weight".count) + ".lora_A.weight" }
    static func bName(_ base: String) -> String { "base_model.model." + base.dropLast(".weight".count) + ".lora_B.weight" }

    /// Adapters on every two-dimensional base tensor `<...>.<target>.weight`, sized for
    /// passes of `rows` tokens. A: Kaiming-uniform (a = √5: U(±1/√in)) from `seed`, B zeros,
    /// as PEFT initialises them.
    public init(config: LoRAConfig, baseSpecs: [WeightSpec], rows: Int, seed: UInt64) throws {
        try config.validate()
        let targets = Set(config.targets)
        let adapted = baseSpecs.filter { spec in
            spec.shape.count == 2 && spec.name.hasSuffix(".weight") && spec.name.hasPrefix("model.layers.")
                && targets.contains(String(spec.name.dropLast(".weight".count).split(separator: ".").last!))
        }
        let found = Set(adapted.map { String($0.name.dropLast(".weight".count).split(separator: ".").last!) })
        let missing = targets.subtracting(found)
        guard missing.isEmpty else {
            throw TrainingError.invalidArgument("--lora-targets \(missing.sorted().joined(separator: ",")) match no projection of this model")
        }
        let r = config.rank
        store = ParameterStore(adapted.flatMap { s in
            [WeightSpec(Self.aName(s.name), [r, s.shape[1]]), WeightSpec(Self.bName(s.name), [s.shape[0], r])]
        })
        self.config = config
        state = LoRAState(seed: seed)
        var byBase: [String: LoRAAdapter] = [:]
        for (i, s) in adapted.enumerated() {
            byBase[s.name] = LoRAAdapter(a: Param(store, Self.aName(s.name)), b: Param(store, Self.bName(s.name)), rank: r,
                                         inFeatures: s.shape[1], outFeatures: s.shape[0], scaling: config.scaling,
                                         dropout: Float(config.dropout), index: i, rows: rows)
        }
        self.byBase = byBase
        var rng = SplitMix64(seed: seed)
        for (name, adapter) in byBase.sorted(by: { $0.key < $1.key }) {
            let bound = 1 / Float(adapter.inFeatures).squareRoot(), a = store.param(Self.aName(name))
            for i in 0..<(r * adapter.inFeatures) { a[i] = (Float(rng.next() >> 40) / Float(1 << 24) * 2 - 1) * bound }
        }
    }

    /// Replaces the adapter tensors by a PEFT adapter folder's (names and shapes checked).
    public func load(folder dir: String) throws {
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(path: dir + "/adapter_model.safetensors") } catch {
            throw TrainingError.io("\(dir)/adapter_model.safetensors: \(error)")
        }
        let expected = Set(store.names), present = Set(file.names)
        guard expected == present else {
            let missing = expected.subtracting(present).sorted(), extra = present.subtracting(expected).sorted()
            throw TrainingError.invalidModel("\(dir)/adapter_model.safetensors does not fit this model: missing \(missing.prefix(4)), unexpected \(extra.prefix(4))")
        }
        for slot in store.slots {
            let t = try file.tensor(slot.name)
            guard t.shape == slot.shape else { throw TrainingError.invalidModel("\(dir): \(slot.name) is \(t.shape), expected \(slot.shape)") }
            t.copyFloats(into: store.params.pointer + slot.offset)
        }
    }

    /// W + s · B A of every adapted tensor (new tensors, each rounded to `dtype` as soon as
    /// it is computed, so a bf16 save never holds all merged matrices in f32); the others
    /// are views on `base`.
    public func merged(into base: ParameterStore, dtype: DType = .f32) -> [String: Tensor] {
        var out = base.tensors()
        for (name, adapter) in byBase {
            let O = adapter.outFeatures, I = adapter.inFeatures
            var w = base.tensor(name).floats()
            w.withUnsafeMutableBufferPointer { p in
                BLAS.sgemm(m: O, n: I, k: config.rank, alpha: config.scaling, a: adapter.b.w, lda: config.rank, b: adapter.a.w,
                           ldb: I, beta: 1, c: p.baseAddress!, ldc: I)
            }
            out[name] = Tensor(w, shape: [O, I]).converted(to: dtype)
        }
        return out
    }

    /// adapter_config.json + adapter_model.safetensors into `dir` (created).
    public func write(to dir: String, baseModel: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try SafeTensorsWriter.write(store.tensors(), to: dir + "/adapter_model.safetensors", metadata: ["format": "pt"])
        try DurableFile.write(config.json(baseModel: baseModel).serialized(pretty: true) + "\n", to: dir + "/adapter_config.json")
    }
}
