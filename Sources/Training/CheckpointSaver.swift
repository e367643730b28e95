#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Checkpoint
import Foundation
import JSON
import Kernels

/// Writes the trainer's output folder. Every save is built in a hidden sibling folder (same
/// file system), every file fsynced (`DurableFile`), then swapped into place in one rename and
/// the parent folder fsynced, so a kill, a power cut or a full disk at any moment leaves either
/// the previous complete checkpoint or the new one under `out`, never a mix. The previous one
/// is deleted only after the new one is in place.
public struct CheckpointSaver {
    public let out: String
    /// The folder the run started from: its config.json and tokenizer files are copied.
    public let source: String
    /// dtype of model.safetensors (F32, BF16 or F16).
    public let dtype: DType
    /// Shard size limit of model.safetensors (Hugging Face's default split is 5 GB; 4 GB here).
    public var shardBytes = 4 << 30

    static let copiedFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                              "generation_config.json", "tokenizer.model"]

    public init(out: String, source: String, dtype: DType) {
        (self.out, self.source, self.dtype) = (out, source, dtype)
    }

    /// Everything one save writes besides the weights.
    public struct Contents {
        public var state: TrainerState
        public var trainingArgs: JSONValue
        public var metrics: [JSONValue]
        public init(state: TrainerState, trainingArgs: JSONValue, metrics: [JSONValue]) {
            (self.state, self.trainingArgs, self.metrics) = (state, trainingArgs, metrics)
        }
    }

    /// A full fine-tuning checkpoint: the store's tensors are the model and the optimized ones.
    public func save(_ store: ParameterStore, _ contents: Contents) throws {
        try save(contents, optimized: store, masters: dtype != .f32) { tmp in
            try writeConfig(to: tmp + "/config.json")
            try writeWeights(store.tensors(), names: store.names, to: tmp)
        }
    }

    /// A LoRA checkpoint: `adapter/` in the PEFT format and, when `merge`, the merged model
    /// W + (α/r)·B·A as a full checkpoint (the optimizer state is the adapters').
    public func save(_ lora: LoRAAdapters, base: ParameterStore, merge: Bool, baseModel: String, _ contents: Contents) throws {
        try save(contents, optimized: lora.store, masters: false) { tmp in
            try lora.write(to: tmp + "/adapter", baseModel: baseModel)
            guard merge else { return }
            try writeConfig(to: tmp + "/config.json")
            try writeWeights(lora.merged(into: base, dtype: dtype), names: base.names, to: tmp)
        }
    }

    private func save(_ contents: Contents, optimized store: ParameterStore, masters: Bool, weights: (String) throws -> Void) throws {
        let url = URL(fileURLWithPath: out).standardizedFileURL
        let parent = url.deletingLastPathComponent().path, name = url.lastPathComponent
        let fm = FileManager.default
        try fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
        // Folders of saves a kill interrupted.
        for stale in (try? fm.contentsOfDirectory(atPath: parent)) ?? [] where stale.hasPrefix(".\(name).saving-") {
            try? fm.removeItem(atPath: parent + "/" + stale)
        }
        let tmp = parent + "/.\(name).saving-\(getpid())"
        do {
            try fm.createDirectory(atPath: tmp, withIntermediateDirectories: false)
            for file in Self.copiedFiles where fm.fileExists(atPath: source + "/" + file) {
                try DurableFile.copy(source + "/" + file, to: tmp + "/" + file)
            }
            try weights(tmp)
            FaultInjection.check(.duringSave, step: contents.state.step)
            try writeOptimizer(store, step: contents.state.step, masters: masters, to: tmp + "/optimizer.safetensors")
            try write(contents.state.json.serialized(pretty: true) + "\n", to: tmp + "/trainer_state.json")
            try write(contents.trainingArgs.serialized(pretty: true) + "\n", to: tmp + "/training_args.json")
            try write(contents.metrics.map { $0.serialized() + "\n" }.joined(), to: tmp + "/metrics.jsonl")
            try write(LossPlot.svg(contents.metrics), to: tmp + "/loss.svg")
            try swapIntoPlace(tmp, out: url.path)
        } catch {
            // A full disk most often: what the failed save wrote goes, so the space is back.
            try? fm.removeItem(atPath: tmp)
            let kept = fm.fileExists(atPath: url.path + "/trainer_state.json") ? "; \(url.path) still holds the previous checkpoint" : ""
            throw TrainingError.io("cannot save the step-\(contents.state.step) checkpoint to \(url.path): \(error)\(kept)")
        }
        try DurableFile.syncDirectory(parent)
        FaultInjection.check(.afterSave, step: contents.state.step)
    }

    /// The source config.json with its dtype fields set to what was written; other fields kept.
    func writeConfig(to path: String) throws {
        guard let bytes = FileManager.default.contents(atPath: source + "/config.json") else {
            throw TrainingError.io("cannot read \(source)/config.json")
        }
        guard case .object(var config) = try JSONValue.parse([UInt8](bytes)) else {
            throw TrainingError.io("\(source)/config.json is not a JSON object")
        }
        let name = dtype == .f32 ? "float32" : dtype == .bf16 ? "bfloat16" : "float16"
        config["torch_dtype"] = .string(name)
        if config["dtype"] != nil { config["dtype"] = .string(name) }
        try write(JSONValue.object(config).serialized(pretty: true) + "\n", to: path)
    }

    /// model.safetensors, or shards of at most `shardBytes` (tensors in `names` order) with
    /// model.safetensors.index.json.
    func writeWeights(_ tensors: [String: Tensor], names: [String], to folder: String) throws {
        let size = { (n: String) in tensors[n]!.count * self.dtype.byteSize }
        let total = names.reduce(0) { $0 + size($1) }
        if total <= shardBytes {
            try SafeTensorsWriter.write(tensors, to: folder + "/model.safetensors", dtype: dtype)
            return
        }
        var shards: [[String]] = [[]], bytes = 0
        for name in names {
            if bytes + size(name) > shardBytes && !shards[shards.count - 1].isEmpty { shards.append([]); bytes = 0 }
            shards[shards.count - 1].append(name)
            bytes += size(name)
        }
        var map = JSONObject()
        for (i, names) in shards.enumerated() {
            let file = String(format: "model-%05d-of-%05d.safetensors", i + 1, shards.count)
            try SafeTensorsWriter.write(tensors.filter { names.contains($0.key) }, to: folder + "/" + file, dtype: dtype)
            for n in names { map[n] = .string(file) }
        }
        let index: JSONValue = ["metadata": ["total_size": .int(total)],
                                "weight_map": .object(JSONObject(map.entries.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))]
        try write(index.serialized(pretty: true) + "\n", to: folder + "/model.safetensors.index.json")
    }

    /// AdamW's moments of the trainable tensors (and, with `masters`, the f32 master weights
    /// when the model file is stored in a narrower type), so a resumed run continues exactly.
    func writeOptimizer(_ store: ParameterStore, step: Int, masters: Bool, to path: String) throws {
        var tensors: [String: Tensor] = [:]
        for name in store.names where store.isTrainable(name) {
            tensors["exp_avg." + name] = store.tensor(name, in: store.m)
            tensors["exp_avg_sq." + name] = store.tensor(name, in: store.v)
        }
        // Frozen matrices kept in bf16 / f16 are their checkpoint's values: no master copy.
        if masters { for slot in store.slots where slot.dtype == .f32 { tensors["master." + slot.name] = store.tensor(slot.name) } }
        try SafeTensorsWriter.write(tensors, to: path, metadata: ["format": "pt", "step": String(step)])
    }

    func write(_ text: String, to path: String) throws { try DurableFile.write(text, to: path) }

    /// Replaces `out` by `tmp` atomically (renameat2 RENAME_EXCHANGE where the kernel has it).
    func swapIntoPlace(_ tmp: String, out: String) throws {
        let fm = FileManager.default
        if !fm.fileExists(atPath: out) {
            guard rename(tmp, out) == 0 else { throw TrainingError.io("cannot rename \(tmp) to \(out): \(String(cString: strerror(errno)))") }
            return
        }
        if let exchange = Self.renameExchange, exchange(tmp, out) == 0 {
            try? fm.removeItem(atPath: tmp)
            return
        }
        // No atomic exchange: the previous checkpoint stays complete beside `out` meanwhile.
        let previous = tmp + ".previous"
        guard rename(out, previous) == 0 else {
            throw TrainingError.io("cannot move \(out) aside: \(String(cString: strerror(errno)))")
        }
        guard rename(tmp, out) == 0 else {
            let reason = String(cString: strerror(errno))
            rename(previous, out)
            throw TrainingError.io("cannot move the new checkpoint into \(out): \(reason)")
        }
        try? fm.removeItem(atPath: previous)
    }

    /// glibc's renameat2 (not in Swift's Glibc module), looked up once.
    static let renameExchange: ((String, String) -> Int32)? = {
        #if os(Linux)
        typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2") else { return nil }
        let f = unsafeBitCast(symbol, to: RenameAt2.self)
        let atCwd: Int32 = -100, exchange: UInt32 = 2
        return { a, b in f(atCwd, a, atCwd, b, exchange) }
        #else
        return nil
        #endif
    }()
}

/// Kills the process at chosen points of a save so tests can prove a kill never leaves a
/// broken checkpoint: POLYCOM_TRAIN_FAULT=during-save:STEP or after-save:STEP.
enum FaultInjection: String {
    case duringSave = "during-save", afterSave = "after-save"

    static func check(_ point: FaultInjection, step: Int) {
        guard let spec = getenv("POLYCOM_TRAIN_FAULT").map({ String(cString: $0) }), spec == "\(point.rawValue):\(step)" else { return }
        kill(getpid(), SIGKILL)
    }
}
