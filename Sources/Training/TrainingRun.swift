#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Checkpoint
import Foundation
import JSON
import Kernels
import Model
import Tokenizer

/// Set by SIGINT: the run saves a resumable checkpoint after the step in flight and stops.
nonisolated(unsafe) private var interruptRequested: sig_atomic_t = 0

/// `polycom train` from options to output folder: checks every input before anything is
/// written, loads (or resumes), trains, evaluates and saves.
public final class TrainingRun {
    public let options: TrainingOptions
    let log: (String) -> Void

    public init(_ options: TrainingOptions, log: @escaping (String) -> Void) {
        self.options = options
        self.log = log
    }

    /// Where a run's weights come from: the model folder, or the checkpoint it resumes —
    /// except with LoRA, whose base is always the model folder (a resumed LoRA run's
    /// training_args.json names it).
    var source: String {
        let lora = options.loraRank != nil || options.loraAdapter != nil
        guard lora, options.model == nil, let resume = options.resume else { return options.resume ?? options.model! }
        let args = FileManager.default.contents(atPath: resume + "/training_args.json").flatMap { try? JSONValue.parse([UInt8]($0)) }
        return args?["model"]?.stringValue ?? resume
    }

    public func run() throws {
        let o = options
        try o.validate()
        try checkOutputFolder()
        if let t = o.threads { BLAS.threads = t }

        let c = try CheckpointFolder(path: source, requireWeights: false).config
        let arch = try Architectures.of(c, path: source + "/config.json")
        guard DecoderTrainingModel.trains(arch) else {
            throw TrainingError.invalidModel("\(source): model_type \(c.modelType) is not trainable (polyllama, llama, olmoe)")
        }
        guard o.seqLen <= c.maxPositionEmbeddings else {
            throw TrainingError.invalidArgument("--seq-len \(o.seqLen) is above the model's context (max_position_embeddings \(c.maxPositionEmbeddings))")
        }
        let tokenizer: Tokenizer
        do { tokenizer = try Tokenizer(path: source) } catch {
            throw TrainingError.invalidModel("\(source): cannot load tokenizer.json (\(error))")
        }
        let eos = c.eosTokenIds.first ?? tokenizer.eosTokenId
        let pad = c.padTokenId ?? tokenizer.padTokenId ?? eos ?? 0
        var examples = try TrainingData(path: o.data, tokenizer: tokenizer, seqLen: o.seqLen, eos: eos, pad: pad).examples
        var validation: [Example] = []
        if let v = o.valData {
            validation = try TrainingData(path: v, tokenizer: tokenizer, seqLen: o.seqLen, eos: eos, pad: pad).examples
        } else if o.valFraction > 0 {
            let held = Int((o.valFraction * Double(examples.count)).rounded(.up))
            guard held < examples.count else {
                throw TrainingError.invalidData("\(o.data) gives \(examples.count) example(s) of \(o.seqLen) tokens: too few to hold out \(held) for validation (add data, lower --val-fraction or give --val-data)")
            }
            validation = Array(examples.suffix(held))
            examples.removeLast(held)
        }

        let specs = arch.weights(c)
        let loraConfig = try o.loraConfig()
        if loraConfig != nil && !o.freeze.isEmpty { throw TrainingError.invalidArgument("--freeze does not apply to LoRA (the base is frozen)") }
        let frozen = try TrainingOptions.frozenTensors(o.freeze, config: c, names: specs.map(\.name))
        let (base, storedDType) = try loadStore(config: c, specs: specs, lora: loraConfig,
                                                frozen: loraConfig == nil ? frozen : Set(specs.map(\.name)))
        let saveDType: DType = o.saveDType == "same" ? storedDType : o.saveDType == "bf16" ? .bf16 : o.saveDType == "f16" ? .f16 : .f32
        let lora = try loraConfig.map { try LoRAAdapters(config: $0, baseSpecs: specs, rows: o.seqLen * o.batchSize, seed: o.seed) }
        if let lora, let dir = o.resume.map({ $0 + "/adapter" }) ?? o.loraAdapter { try lora.load(folder: dir) }
        let model = try DecoderTrainingModel(config: c, store: base, seqLen: o.seqLen, maxSequences: o.batchSize, recompute: o.recompute,
                                             routerAux: Float(o.routerAuxLossCoef), routerZ: Float(o.routerZLossCoef), lora: lora)
        let store = model.store
        let order = BatchOrder(examples: examples.count, batchSize: o.batchSize, gradAccum: o.gradAccum, shuffle: o.shuffle, seed: o.seed)
        let totalSteps = o.steps ?? order.steps(epochs: o.epochs ?? 1)
        let recipe = TrainingRecipe(
            schedule: LearningRateSchedule(kind: o.schedule, peak: o.lr, warmupSteps: o.warmupSteps, totalSteps: totalSteps, minRatio: o.minLRRatio),
            optimizer: AdamW(beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay),
            clip: o.clip, batchSize: o.batchSize, gradAccum: o.gradAccum, shuffle: o.shuffle, seed: o.seed)
        let trainer = try Trainer(model: model, recipe: recipe, examples: examples)

        var metrics: [JSONValue] = []
        var tokens = 0, elapsedBefore = 0.0
        if let resume = o.resume {
            let state = try resumeState(store, from: resume, examples: examples.count)
            guard state.step < totalSteps else {
                throw TrainingError.invalidArgument("\(resume) is already at step \(state.step) of \(totalSteps): raise --steps to continue")
            }
            trainer.resume(afterSteps: state.step)
            (tokens, elapsedBefore) = (state.tokens, state.elapsed)
            metrics = Self.metrics(in: resume).filter { ($0["step"]?.intValue ?? .max) <= state.step }
            log("resuming \(resume) at step \(state.step)")
        }

        interruptRequested = 0
        let previous = signal(SIGINT) { _ in interruptRequested = 1 }
        defer { signal(SIGINT, previous) }
        log("training \(store.trainableCount) \(lora == nil ? "of" : "adapter parameters beside") \(base.parameterCount) parameters on \(examples.count) examples of \(o.seqLen) tokens"
            + " (\(validation.count) for validation), \(totalSteps) steps of \(o.batchSize)×\(o.gradAccum) sequences")
        let saver = CheckpointSaver(out: o.out, source: source, dtype: saveDType)
        let start = Date()
        func save() throws {
            let state = TrainerState(step: trainer.completedSteps, seed: o.seed, examples: examples.count, seqLen: o.seqLen,
                                     batchSize: o.batchSize, gradAccum: o.gradAccum, tokens: tokens,
                                     elapsed: elapsedBefore + Date().timeIntervalSince(start))
            let contents = CheckpointSaver.Contents(state: state, trainingArgs: o.json, metrics: metrics)
            if let lora {
                try saver.save(lora, base: base, merge: o.merge, baseModel: source, contents)
            } else {
                try saver.save(store, contents)
            }
        }
        let progress = ProgressBar(totalSteps: totalSteps, log: log)

        while trainer.completedSteps < totalSteps {
            let stepStart = Date()
            let first = trainer.completedSteps == 0
            let result = try trainer.step(gradients: first && o.dumpGradients != nil ? { store in
                try SafeTensorsWriter.write(store.tensors(in: store.grads, trainableOnly: true), to: o.dumpGradients!)
            } : nil)
            guard result.loss.isFinite else {
                throw TrainingError.invalidArgument("loss became \(result.loss) at step \(result.step): lower --lr")
            }
            tokens += result.tokens
            let stepTime = Date().timeIntervalSince(stepStart)
            let rate = Double(result.tokens) / max(stepTime, 1e-9), elapsed = elapsedBefore + Date().timeIntervalSince(start)
            var line = JSONObject()
            line["step"] = .int(result.step)
            line["loss"] = .double(result.loss)
            if model.routerLosses != nil {
                line["ce_loss"] = .double(result.ceLoss)
                line["aux_loss"] = .double(result.auxLoss)
                line["z_loss"] = .double(result.zLoss)
            }
            line["lr"] = .double(result.lr)
            line["grad_norm"] = .double(result.gradNorm)
            line["tokens"] = .int(tokens)
            line["tokens_per_s"] = .double(rate)
            line["elapsed_s"] = .double(elapsed)
            let last = result.step == totalSteps
            let evaluates = (o.evalEvery > 0 && result.step % o.evalEvery == 0) || last
            if !validation.isEmpty && evaluates {
                line["val_loss"] = .double(try trainer.evaluate(validation))
            }
            // Training tokens routed to each expert per layer since the last report, so a
            // collapsing router shows.
            if evaluates, let counts = model.takeRouterCounts() {
                line["router_tokens_per_expert"] = .array(counts.map { .array($0.map { .int($0) }) })
            }
            metrics.append(.object(line))
            progress.update(result, valLoss: line["val_loss"]?.doubleValue, tokensPerSecond: rate)
            if interruptRequested != 0 {
                progress.finish()
                log("interrupted: saving a resumable checkpoint at step \(result.step) to \(o.out)")
                try save()
                return
            }
            if last || (o.saveEvery > 0 && result.step % o.saveEvery == 0) { try save() }
        }
        progress.finish()
        log("saved \(o.out) (step \(trainer.completedSteps))")
    }

    /// The checkpoint's weights as f32 parameters, after printing the memory estimate and
    /// refusing a run that does not fit. The mapped file is released on return.
    /// `frozen` tensors (a LoRA run's whole base) get no gradients or moments.
    func loadStore(config c: ModelConfig, specs: [WeightSpec], lora: LoRAConfig?, frozen: Set<String>) throws -> (ParameterStore, DType) {
        let o = options
        let bound = try CheckpointFolder(path: source).bind(specs, optional: c.tieWordEmbeddings ? ["lm_head.weight"] : [])
        let estimate = try MemoryEstimate(config: c, specs: specs, stored: bound.mapValues(\.dtype), frozen: frozen,
                                          checkpointBytes: bound.values.reduce(0) { $0 + $1.bytes.count }, seqLen: o.seqLen,
                                          batchSize: o.batchSize, recompute: o.recompute, lora: lora)
        log(estimate.summary)
        let machine = MemoryEstimate.machineBytes
        guard estimate.total <= machine else {
            throw TrainingError.outOfMemory("\(estimate.summary) exceeds this machine's \(String(format: "%.2f GiB", Double(machine) / Double(1 << 30)))"
                + (o.recompute ? "" : "; --recompute cuts activation memory") + "; or lower --batch-size / --seq-len")
        }
        return (try ParameterStore(specs, values: bound, frozen: frozen), bound["model.embed_tokens.weight"]?.dtype ?? .f32)
    }

    /// Refuses an --out that already holds something other than the checkpoint being resumed.
    func checkOutputFolder() throws {
        let fm = FileManager.default
        let out = URL(fileURLWithPath: options.out).standardizedFileURL.path
        if let resume = options.resume, URL(fileURLWithPath: resume).standardizedFileURL.path == out { return }
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: out, isDirectory: &isDir) else { return }
        guard isDir.boolValue else { throw TrainingError.invalidArgument("--out \(options.out) is a file") }
        let entries = (try? fm.contentsOfDirectory(atPath: out)) ?? []
        if !entries.isEmpty {
            let what = entries.contains("config.json") ? "a checkpoint" : "files"
            throw TrainingError.invalidArgument("--out \(options.out) already holds \(what) (\(entries.sorted().prefix(3).joined(separator: ", ")) …): choose a new folder, or --resume it to continue")
        }
    }

    /// Loads master weights and AdamW's moments from a checkpoint written by this trainer.
    func resumeState(_ store: ParameterStore, from dir: String, examples: Int) throws -> TrainerState {
        let state = try TrainerState.load(path: dir + "/trainer_state.json")
        let o = options
        guard state.examples == examples, state.seqLen == o.seqLen, state.batchSize == o.batchSize, state.gradAccum == o.gradAccum,
              state.seed == o.seed else {
            throw TrainingError.invalidArgument("\(dir) was trained with \(state.examples) examples, --seq-len \(state.seqLen), --batch-size \(state.batchSize), --grad-accum \(state.gradAccum), --seed \(state.seed): resume with the same data and settings")
        }
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(path: dir + "/optimizer.safetensors") } catch {
            throw TrainingError.io("\(dir)/optimizer.safetensors: \(error)")
        }
        for slot in store.slots {
            if slot.dtype == .f32, file.contains("master." + slot.name) {
                try file.tensor("master." + slot.name).copyFloats(into: store.params.pointer + slot.offset)
            }
            guard let state = slot.stateOffset else { continue }
            guard file.contains("exp_avg." + slot.name), file.contains("exp_avg_sq." + slot.name) else {
                throw TrainingError.io("\(dir)/optimizer.safetensors has no state for \(slot.name) (was it frozen in that run?)")
            }
            try file.tensor("exp_avg." + slot.name).copyFloats(into: store.m.pointer + state)
            try file.tensor("exp_avg_sq." + slot.name).copyFloats(into: store.v.pointer + state)
        }
        return state
    }

    static func metrics(in dir: String) -> [JSONValue] {
        guard let text = try? String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }
    }
}
