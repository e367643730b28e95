import Checkpoint
import JSON

/// Everything `polycom train` takes, with the paper's defaults.
public struct TrainingOptions: Sendable {
    public var model: String?
    public var data: String
    public var out: String
    public var seqLen = 512
    public var batchSize = 1
    public var gradAccum = 1
    public var steps: Int?
    public var epochs: Double?
    public var lr = 3e-4
    public var warmupSteps = 0
    public var minLRRatio = 0.1
    public var schedule = LearningRateSchedule.Kind.cosine
    public var weightDecay = 0.1
    public var beta1 = 0.9
    public var beta2 = 0.95
    public var eps = 1e-8
    public var clip = 1.0
    public var seed: UInt64 = 0
    public var shuffle = true
    public var valFraction = 0.05
    public var valData: String?
    public var evalEvery = 0
    public var saveEvery = 0
    /// "bf16", "f32" or "same" (the input's dtype).
    public var saveDType = "same"
    public var freeze: [String] = []
    public var threads: Int?
    public var resume: String?
    public var dumpGradients: String?
    public var recompute = false
    /// LoRA: a new adapter of this rank (or the PEFT adapter folder `loraAdapter` continued).
    public var loraRank: Int?
    public var loraAlpha = 8.0
    public var loraTargets = LoRAConfig.defaultTargets
    public var loraDropout = 0.0
    public var loraAdapter: String?
    /// LoRA: also write the merged model W + (α/r)·B·A as a full checkpoint.
    public var merge = true
    /// MoE router losses' weights in the objective.
    public var routerAuxLossCoef = 0.01
    public var routerZLossCoef = 0.001

    public init(model: String?, data: String, out: String) { (self.model, self.data, self.out) = (model, data, out) }

    func validate() throws {
        func fail(_ m: String) -> TrainingError { .invalidArgument(m) }
        if model == nil && resume == nil { throw fail("--model is required (or --resume DIR)") }
        for (name, v) in [("--seq-len", seqLen), ("--batch-size", batchSize), ("--grad-accum", gradAccum)] where v < 1 {
            throw fail("\(name) must be at least 1, got \(v)")
        }
        if seqLen < 2 { throw fail("--seq-len must be at least 2 (position t predicts token t + 1)") }
        if let s = steps, s < 1 { throw fail("--steps must be at least 1, got \(s)") }
        if let e = epochs, !(e > 0) { throw fail("--epochs must be positive, got \(e)") }
        if steps != nil && epochs != nil { throw fail("give --steps or --epochs, not both") }
        if !(lr > 0) { throw fail("--lr must be positive") }
        if warmupSteps < 0 || evalEvery < 0 || saveEvery < 0 { throw fail("--warmup-steps, --eval-every and --save-every must not be negative") }
        if !(0...1).contains(minLRRatio) { throw fail("--min-lr-ratio must be in [0, 1]") }
        if !(0..<1).contains(beta1) || !(0..<1).contains(beta2) { throw fail("--beta1 and --beta2 must be in [0, 1)") }
        if !(eps > 0) || weightDecay < 0 || !(clip > 0) { throw fail("--eps and --clip must be positive, --weight-decay not negative") }
        if !(0..<1).contains(valFraction) { throw fail("--val-fraction must be in [0, 1)") }
        if !["bf16", "f32", "f16", "same"].contains(saveDType) { throw fail("--save-dtype must be bf16, f32, f16 or same") }
        if let t = threads, t < 1 { throw fail("--threads must be at least 1") }
        if !(routerAuxLossCoef >= 0) || !(routerZLossCoef >= 0) { throw fail("--router-aux-loss-coef and --router-z-loss-coef must not be negative") }
    }

    /// The adapter settings of a LoRA run (nil for full fine-tuning): the flags, or the
    /// config of `--lora-adapter`.
    func loraConfig() throws -> LoRAConfig? {
        if let dir = loraAdapter {
            let config = try LoRAConfig(adapterFolder: dir)
            if let r = loraRank, r != config.rank {
                throw TrainingError.invalidArgument("--lora-rank \(r) differs from the rank \(config.rank) of --lora-adapter \(dir)")
            }
            return config
        }
        guard let r = loraRank else { return nil }
        let config = LoRAConfig(rank: r, alpha: loraAlpha, targets: loraTargets, dropout: loraDropout)
        try config.validate()
        return config
    }

    /// The tensors `--freeze` names: `embeddings`, `lm_head`, `norm` (the final norm),
    /// `layers:A-B` or `layers:A`, or exact tensor names.
    static func frozenTensors(_ items: [String], config c: ModelConfig, names: [String]) throws -> Set<String> {
        var out = Set<String>()
        let all = Set(names)
        for item in items.flatMap({ $0.split(separator: ",").map(String.init) }) where !item.isEmpty {
            switch item {
            case "embeddings", "embed_tokens": out.insert("model.embed_tokens.weight")
            case "lm_head": out.insert(c.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight")
            case "norm": out.insert("model.norm.weight")
            default:
                if all.contains(item) { out.insert(item); continue }
                guard item.hasPrefix("layers:") else {
                    throw TrainingError.invalidArgument("unknown --freeze name '\(item)' (embeddings, lm_head, norm, layers:A-B, or a tensor name)")
                }
                let bounds = item.dropFirst("layers:".count).split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
                guard (1...2).contains(bounds.count), let lo = bounds.first!, let hi = bounds.last!, lo <= hi, lo >= 0,
                      hi < c.numHiddenLayers else {
                    throw TrainingError.invalidArgument("--freeze '\(item)': layers are 0...\(c.numHiddenLayers - 1), written layers:A-B")
                }
                for i in lo...hi { out.formUnion(names.filter { $0.hasPrefix("model.layers.\(i).") }) }
            }
        }
        return out
    }

    /// training_args.json.
    var json: JSONValue {
        func opt(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        return ["model": opt(model), "data": .string(data), "out": .string(out), "seq_len": .int(seqLen),
                "batch_size": .int(batchSize), "grad_accum": .int(gradAccum), "steps": steps.map { .int($0) } ?? .null,
                "epochs": epochs.map { .double($0) } ?? .null, "lr": .double(lr), "warmup_steps": .int(warmupSteps),
                "min_lr_ratio": .double(minLRRatio), "schedule": .string(schedule.rawValue), "weight_decay": .double(weightDecay),
                "beta1": .double(beta1), "beta2": .double(beta2), "eps": .double(eps), "clip": .double(clip),
                "seed": .string(String(seed)), "shuffle": .bool(shuffle), "val_fraction": .double(valFraction),
                "val_data": opt(valData), "eval_every": .int(evalEvery), "save_every": .int(saveEvery),
                "save_dtype": .string(saveDType), "freeze": .array(freeze.map { .string($0) }),
                "threads": threads.map { .int($0) } ?? .null, "resume": opt(resume), "recompute": .bool(recompute),
                "router_aux_loss_coef": .double(routerAuxLossCoef), "router_z_loss_coef": .double(routerZLossCoef),
                "lora_rank": loraRank.map { .int($0) } ?? .null, "lora_alpha": .double(loraAlpha),
                "lora_targets": .array(loraTargets.map { .string($0) }), "lora_dropout": .double(loraDropout),
                "lora_adapter": opt(loraAdapter), "merge": .bool(merge)]
    }
}
