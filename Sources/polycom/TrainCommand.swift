import ArgumentParser
import Foundation
import JSON
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune a dense or MoE checkpoint (f32 master weights, AdamW).",
        discussion: """
            Data is JSON lines: {"text": ...} lines are concatenated and cut into blocks of --seq-len \
            tokens; {"prompt": ..., "completion": ...} lines are one sequence each with loss on the \
            completion. Writes a checkpoint folder (config.json, model.safetensors, tokenizer files, \
            training_args.json, metrics.jsonl, loss.svg, optimizer.safetensors, trainer_state.json) \
            that polycom and transformers load; --resume continues it. Ctrl-C saves and stops. \
            With --lora-rank (or --lora-adapter) only a LoRA adapter trains: OUT/adapter holds it in \
            the PEFT format, and OUT the merged model unless --no-merge.

            Example:
              polycom train --model Models/polynorm-demo --data train.jsonl --out runs/demo --seq-len 128 --steps 200
              polycom train --init config.json --tokenizer tok/ --data corpus.jsonl --out runs/scratch --steps 2000
            """)

    @Option(help: "Checkpoint folder to fine-tune (not needed with --resume or --init).") var model: String?
    @Option(help: "config.json of a model to train from scratch (transformers' random init; with --tokenizer).") var `init`: String?
    @Option(help: "Folder with the tokenizer files for --init.") var tokenizer: String?
    @Option(help: "Seed of the --init weights.") var initSeed: UInt64 = 0
    @Option(help: "JSONL training data.") var data: String
    @Option(help: "Output checkpoint folder (new or empty; or the --resume folder).") var out: String
    @Option(help: "Tokens per sequence.") var seqLen = 512
    @Option(help: "Sequences per micro-batch.") var batchSize = 1
    @Option(help: "Micro-batches per optimizer step.") var gradAccum = 1
    @Option(help: "Optimizer steps (default: one epoch).") var steps: Int?
    @Option(help: "Passes over the training examples (instead of --steps).") var epochs: Double?
    @Option(help: "Peak learning rate.") var lr = 3e-4
    @Option(help: "Linear warmup steps.") var warmupSteps = 0
    @Option(help: "Final learning rate as a fraction of --lr.") var minLrRatio = 0.1
    @Option(help: "cosine, linear or constant after warmup.") var schedule = "cosine"
    @Option(help: "AdamW weight decay (matrices only).") var weightDecay = 0.1
    @Option var beta1 = 0.9
    @Option var beta2 = 0.95
    @Option var eps = 1e-8
    @Option(help: "Global gradient-norm clip.") var clip = 1.0
    @Option(help: "Seed of the data order.") var seed: UInt64 = 0
    @Flag(help: "Keep examples in file order.") var noShuffle = false
    @Option(help: "Fraction of the blocks (the last ones) held out for validation.") var valFraction = 0.05
    @Option(help: "JSONL validation data (instead of holding out --val-fraction).") var valData: String?
    @Option(help: "Validation loss every N steps (and at the end).") var evalEvery = 0
    @Option(help: "Save a checkpoint every N steps (and at the end).") var saveEvery = 0
    @Option(help: "bf16, f32 or same (the input's dtype).") var saveDtype = "same"
    @Option(help: "Tensors to keep fixed: embeddings,lm_head,norm,layers:0-11 or tensor names.") var freeze: String?
    @Option(help: "BLAS threads.") var threads: Int?
    @Option(help: "Continue a checkpoint this command wrote.") var resume: String?
    @Option(help: "Write the first step's gradients (before clipping) as F32 safetensors.") var dumpGradients: String?
    @Flag(help: "Recompute layer activations in the backward pass (less memory, ~1/3 more compute).") var recompute = false
    @Option(help: "LoRA: train a new adapter of this rank (the base stays frozen).") var loraRank: Int?
    @Option(help: "LoRA: alpha (the update is scaled by alpha / rank).") var loraAlpha = 8.0
    @Option(help: "LoRA: projections to adapt, from q_proj,k_proj,v_proj,o_proj,up_proj,down_proj,gate_proj.") var loraTargets = "q_proj,v_proj"
    @Option(help: "LoRA: dropout on the adapter's input.") var loraDropout = 0.0
    @Option(help: "LoRA: continue training this PEFT adapter folder.") var loraAdapter: String?
    @Flag(help: "LoRA: write only OUT/adapter, not the merged model.") var noMerge = false
    @Option(help: "MoE: weight of the router load-balancing loss (0 turns it off).") var routerAuxLossCoef = 0.01
    @Option(help: "MoE: weight of the router z-loss (0 turns it off).") var routerZLossCoef = 0.001

    func run() throws {
        guard let kind = LearningRateSchedule.Kind(rawValue: schedule) else {
            throw ValidationError("--schedule must be cosine, linear or constant")
        }
        let scratch = try initialCheckpoint()
        defer { if let dir = scratch { try? FileManager.default.removeItem(atPath: dir) } }
        var o = TrainingOptions(model: scratch ?? model, data: data, out: out)
        (o.seqLen, o.batchSize, o.gradAccum, o.steps, o.epochs) = (seqLen, batchSize, gradAccum, steps, epochs)
        (o.lr, o.warmupSteps, o.minLRRatio, o.schedule, o.weightDecay) = (lr, warmupSteps, minLrRatio, kind, weightDecay)
        (o.beta1, o.beta2, o.eps, o.clip, o.seed, o.shuffle) = (beta1, beta2, eps, clip, seed, !noShuffle)
        (o.valFraction, o.valData, o.evalEvery, o.saveEvery, o.saveDType) = (valFraction, valData, evalEvery, saveEvery, saveDtype)
        (o.freeze, o.threads, o.resume, o.dumpGradients, o.recompute) = (freeze.map { [$0] } ?? [], threads, resume, dumpGradients, recompute)
        (o.routerAuxLossCoef, o.routerZLossCoef) = (routerAuxLossCoef, routerZLossCoef)
        (o.loraRank, o.loraAlpha, o.loraDropout, o.loraAdapter, o.merge) = (loraRank, loraAlpha, loraDropout, loraAdapter, !noMerge)
        o.loraTargets = loraTargets.split(separator: ",").map { String($0.trimmingCharacters(in: .whitespaces)) }.filter { !$0.isEmpty }
        try TrainingRun(o) { FileHandle.standardError.write(($0 + "\n").data(using: .utf8)!) }.run()
        if scratch != nil { try recordInit() }
    }

    /// training_args.json names the temporary step-0 folder as "model": say what made it.
    func recordInit() throws {
        let path = out + "/training_args.json"
        guard case .object(var args)? = try? JSONValue.parse(String(contentsOfFile: path, encoding: .utf8)) else { return }
        (args["model"], args["init"], args["tokenizer"]) = (.null, .string(`init`!), .string(tokenizer!))
        args["init_seed"] = .string(String(initSeed))
        try JSONValue.object(args).serialized(pretty: true).appending("\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// With --init: a step-0 checkpoint in a temporary folder, trained from like --model.
    func initialCheckpoint() throws -> String? {
        guard let config = `init` else {
            if tokenizer != nil { throw ValidationError("--tokenizer goes with --init") }
            return nil
        }
        guard let tokenizer else { throw ValidationError("--init needs --tokenizer DIR") }
        guard model == nil, resume == nil else { throw ValidationError("give --init or --model / --resume, not both") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("polycom-init-\(UUID().uuidString)").path
        try RandomInit.writeCheckpoint(config: config, tokenizer: tokenizer, seed: initSeed, to: dir)
        return dir
    }
}
