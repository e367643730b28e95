import Checkpoint
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import JSON
import Model
import Server
import TestSupport
import XCTest

/// `polycom train` as a user runs it, on the shipped demo model (it has a tokenizer).
final class TrainCommandTests: XCTestCase {
    let demo = repositoryRoot + "/Models/polynorm-demo"
    let data = fixturesDirectory + "/training/train.jsonl"
    /// Same as tools/reference/make_trained_checkpoint_reference.py's ARGS.
    let trainedArguments = ["--seq-len", "32", "--batch-size", "2", "--grad-accum", "2", "--steps", "3", "--lr", "2e-3",
                            "--warmup-steps", "1", "--no-shuffle", "--val-fraction", "0.2", "--save-dtype", "f32", "--threads", "1"]

    func train(_ extra: [String], out: String, environment: [String: String?] = [:]) throws -> RunResult {
        try polycom(["train", "--data", data, "--out", out] + extra, environment: environment)
    }

    func metrics(_ out: String) throws -> [JSONValue] {
        try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(String($0)) }
    }

    /// The checkpoint polycom writes loads in polycom (the loader serve uses) with the logits
    /// transformers computes on that same file; the losses are PyTorch's replay of the recipe.
    func testTrainedCheckpointLoadsWithTransformersLogits() throws {
        let out = temporaryDirectory() + "/run"
        let r = try train(["--model", demo] + trainedArguments, out: out)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("estimated peak memory"), r.stderr)
        for file in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "training_args.json",
                     "metrics.jsonl", "loss.svg", "optimizer.safetensors", "trainer_state.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + file), file)
        }
        let ref = try reference("trained-polynorm-demo")
        let lines = try metrics(out)
        let losses = try ref.tensor("losses").bytes.bindMemory(to: Double.self).map { $0 }
        XCTAssertEqual(lines.count, 3)
        for (line, loss) in zip(lines, losses) {
            for key in ["step", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "elapsed_s"] { XCTAssertNotNil(line[key], key) }
            XCTAssertEqual(line["loss"]!.doubleValue!, loss, accuracy: 1e-4 * loss)
        }
        XCTAssertNotNil(lines.last?["val_loss"], "the last step is evaluated")
        XCTAssertEqual(try CheckpointFolder(path: out).config.torchDtype, "float32")
        let model = try Architectures.load(path: out)
        let logits = try model.logits(for: try ref.tensor("tokens").ints())
        assertClose(logits.buffer.array, try ref.tensor("logits").floats(), tolerance: 1e-4, "polycom vs transformers on the trained file")
        try assertServedLogProbs(out, tokens: try ref.tensor("tokens").ints(), logits: try ref.tensor("logits").floats())
    }

    /// `polycom serve`'s service on the trained folder: /v1/loglikelihood of each next token
    /// equals transformers' log-softmax at that position.
    func assertServedLogProbs(_ folder: String, tokens: [Int], logits: [Float]) throws {
        var options = ServerOptions()
        options.port = 0
        let service = InferenceService(modelPath: folder, options: options)
        service.log = { _ in }
        let port = try service.start()
        try service.load()
        defer { service.drainAndStop(grace: 1) }
        let V = logits.count / tokens.count
        let pairs: [JSONValue] = (1..<tokens.count).map { i in
            ["context": .array(tokens[..<i].map { .int($0) }), "continuation": [.int(tokens[i])]]
        }
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/loglikelihood")!)
        request.httpMethod = "POST"
        request.httpBody = Data(JSONValue.object(["requests": .array(pairs)]).serialized().utf8)
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var body = Data()
        URLSession.shared.dataTask(with: request) { data, _, _ in body = data ?? Data(); done.signal() }.resume()
        done.wait()
        let results = try XCTUnwrap(try JSONValue.parse([UInt8](body))["results"]?.arrayValue, String(decoding: body, as: UTF8.self))
        XCTAssertEqual(results.count, tokens.count - 1)
        for (i, r) in results.enumerated() {
            let row = logits[i * V..<(i + 1) * V].map(Double.init), top = row.max()!
            let expected = row[tokens[i + 1]] - top - log(row.reduce(0) { $0 + exp($1 - top) })
            XCTAssertEqual(try XCTUnwrap(r["logprob"]?.doubleValue), expected, accuracy: 1e-3, "served log-prob of token \(i + 1)")
        }
    }

    func testFineTuningLowersValidationLoss() throws {
        let out = temporaryDirectory() + "/run"
        let r = try train(["--model", demo, "--seq-len", "32", "--batch-size", "2", "--steps", "8", "--lr", "2e-3",
                           "--eval-every", "1", "--val-fraction", "0.2"], out: out)
        XCTAssertEqual(r.status, 0, r.stderr)
        let val = try metrics(out).compactMap { $0["val_loss"]?.doubleValue }
        XCTAssertEqual(val.count, 8)
        XCTAssertLessThan(val.last!, val.first! - 0.2, "validation loss \(val)")
    }

    let resumable = ["--seq-len", "32", "--batch-size", "2", "--steps", "6", "--save-every", "2", "--lr", "2e-3",
                     "--warmup-steps", "2", "--seed", "7", "--val-fraction", "0.1"]

    /// A run killed after its step-4 save and resumed gives the uninterrupted run's losses
    /// and weights exactly (shuffled order, bf16 checkpoint: f32 master weights in the optimizer file).
    func testResumeAfterAKillReproducesTheUninterruptedRun() throws {
        let whole = temporaryDirectory() + "/whole", cut = temporaryDirectory() + "/cut"
        XCTAssertEqual(try train(["--model", demo] + resumable, out: whole).status, 0)
        let killed = try train(["--model", demo] + resumable, out: cut, environment: ["POLYCOM_TRAIN_FAULT": "after-save:4"])
        XCTAssertNotEqual(killed.status, 0)
        XCTAssertEqual(try metrics(cut).count, 4)
        let resumed = try train(["--resume", cut] + resumable, out: cut)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let a = try metrics(whole), b = try metrics(cut)
        XCTAssertEqual(a.map { $0["loss"]!.doubleValue! }, b.map { $0["loss"]!.doubleValue! })
        XCTAssertEqual(a.map { $0["grad_norm"]!.doubleValue! }, b.map { $0["grad_norm"]!.doubleValue! })
        XCTAssertEqual(FileManager.default.contents(atPath: whole + "/model.safetensors"),
                       FileManager.default.contents(atPath: cut + "/model.safetensors"))
    }

    /// Killed while writing the step-4 checkpoint: `out` still holds the complete step-2 one.
    func testAKillDuringASaveLeavesThePreviousCheckpointLoadable() throws {
        let out = temporaryDirectory() + "/run"
        let killed = try train(["--model", demo] + resumable, out: out, environment: ["POLYCOM_TRAIN_FAULT": "during-save:4"])
        XCTAssertNotEqual(killed.status, 0)
        XCTAssertEqual(try metrics(out).count, 2)
        XCTAssertEqual(try JSONValue.parse(String(contentsOfFile: out + "/trainer_state.json", encoding: .utf8))["step"]?.intValue, 2)
        let model = try Architectures.load(path: out)
        XCTAssertTrue(try model.logits(for: [1, 450]).buffer.array.allSatisfy(\.isFinite))
        let resumed = try train(["--resume", out] + resumable, out: out)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try metrics(out).count, 6)
        let parent = (out as NSString).deletingLastPathComponent
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: parent).filter { $0.contains("saving") }, [],
                       "the interrupted save's folder is cleaned up")
    }

    /// The dump holds every trainable tensor's gradient before clipping: its norm is the
    /// step's grad_norm (above --clip), frozen layers are absent.
    func testDumpGradientsWritesUnclippedGradientsOfTrainableTensors() throws {
        let dir = temporaryDirectory(), dump = dir + "/grads.safetensors"
        let r = try train(["--model", demo, "--seq-len", "32", "--batch-size", "2", "--steps", "1", "--freeze", "layers:0-1,embeddings",
                           "--dump-gradients", dump, "--clip", "0.5"], out: dir + "/run")
        XCTAssertEqual(r.status, 0, r.stderr)
        let file = try SafeTensorsFile(path: dump)
        let config = try CheckpointFolder(path: demo).config
        let names = try Architectures.of(config).weights(config).map(\.name)
        let expected = names.filter { !$0.hasPrefix("model.layers.0.") && !$0.hasPrefix("model.layers.1.") && $0 != "model.embed_tokens.weight" }
        XCTAssertEqual(file.names, expected.sorted())
        var sum = 0.0
        for name in file.names {
            let t = try file.tensor(name)
            XCTAssertEqual(t.dtype, .f32)
            sum += t.floats().reduce(0) { $0 + Double($1) * Double($1) }
        }
        let norm = try metrics(dir + "/run")[0]["grad_norm"]!.doubleValue!
        XCTAssertGreaterThan(norm, 0.5)
        XCTAssertEqual(sum.squareRoot(), norm, accuracy: 1e-4 * norm)
    }

    func testPromptCompletionDataTrains() throws {
        let out = temporaryDirectory() + "/run"
        let r = try polycom(["train", "--model", demo, "--data", fixturesDirectory + "/training/prompt-completion.jsonl", "--out", out,
                             "--seq-len", "24", "--batch-size", "2", "--steps", "2", "--val-fraction", "0"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try metrics(out).count, 2)
    }

    /// Each bad input: a clear error, exit status 1, and no output folder.
    func testBadInputGetsAClearErrorAndNoOutput() throws {
        let dir = temporaryDirectory()
        func file(_ name: String, _ text: String) -> String {
            FileManager.default.createFile(atPath: dir + "/" + name, contents: text.data(using: .utf8))
            return dir + "/" + name
        }
        let cases: [([String], String)] = [
            (["--data", file("bad.jsonl", "{\"text\": \"a\"}\n{not json\n")], "bad.jsonl line 2: not valid JSON"),
            (["--data", file("field.jsonl", "{\"text\": \"a\"}\n\n{\"txt\": \"b\"}\n")], "field.jsonl line 3: expected an object"),
            (["--data", dir + "/missing.jsonl"], "cannot read data file \(dir)/missing.jsonl"),
            (["--data", file("empty.jsonl", "\n")], "holds no data lines"),
            (["--data", file("short.jsonl", "{\"text\": \"Hi\"}\n")], "fewer than one block of --seq-len 32"),
            (["--data", data, "--seq-len", "1000"], "above the model's context (max_position_embeddings 512)"),
            (["--data", data, "--freeze", "layers:2-9"], "layers are 0...3"),
            (["--data", data, "--freeze", "attention"], "unknown --freeze name 'attention'"),
            (["--data", data, "--batch-size", "0"], "--batch-size must be at least 1"),
        ]
        for (args, message) in cases {
            let out = dir + "/out-\(UUID().uuidString)"
            let r = try polycom(["train", "--model", demo, "--out", out, "--seq-len", "32"] + args)
            XCTAssertEqual(r.status, 1, message)
            XCTAssertTrue(r.stderr.contains(message), "expected '\(message)' in: \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "no output for: \(message)")
        }
        let other = try copyOfFixture("polynorm-f32")
        let r = try polycom(["train", "--model", demo, "--data", data, "--out", other, "--seq-len", "32"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("already holds a checkpoint"), r.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: other).sorted(), ["config.json", "model.safetensors"])
    }
}

extension TrainCommandTests {
    /// Ctrl-C during training saves a resumable checkpoint and exits 0.
    func testInterruptSavesAResumableCheckpoint() throws {
        let out = temporaryDirectory() + "/run"
        let process = Process()
        process.executableURL = Bundle.main.bundleURL.appendingPathComponent("polycom")
        process.arguments = ["train", "--model", demo, "--data", data, "--out", out, "--seq-len", "32", "--steps", "100000"]
        let err = Pipe()
        process.standardError = err
        try process.run()
        var text = ""
        while !text.contains("training ") {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        usleep(300_000)
        process.interrupt()
        text += String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("interrupted: saving a resumable checkpoint"), text)
        let step = try JSONValue.parse(String(contentsOfFile: out + "/trainer_state.json", encoding: .utf8))["step"]?.intValue
        XCTAssertEqual(step, try metrics(out).count)
        XCTAssertLessThan(step ?? .max, 100000)
    }

    /// Same as tools/reference/make_lora_checkpoint_reference.py's ARGS.
    var loraArguments: [String] {
        ["--seq-len", "32", "--batch-size", "2", "--steps", "3", "--lr", "1e-2", "--no-shuffle", "--val-fraction", "0.2",
         "--threads", "1", "--lora-rank", "4", "--lora-alpha", "16",
         "--lora-targets", "q_proj,k_proj,v_proj,o_proj,up_proj,down_proj", "--save-dtype", "f32"]
    }

    /// The adapter polycom writes is PEFT's format (PEFT loaded this same run's adapter in
    /// the fixture script), and the merged model gives PEFT's logits.
    func testLoRARunWritesAPEFTAdapterAndTheMergedModel() throws {
        let out = temporaryDirectory() + "/run"
        let r = try train(["--model", demo] + loraArguments, out: out)
        XCTAssertEqual(r.status, 0, r.stderr)
        let config = try JSONValue.parse([UInt8](XCTUnwrap(FileManager.default.contents(atPath: out + "/adapter/adapter_config.json"))))
        XCTAssertEqual(config["peft_type"]?.stringValue, "LORA")
        XCTAssertEqual(config["r"]?.intValue, 4)
        XCTAssertEqual(config["lora_alpha"]?.doubleValue, 16)
        XCTAssertEqual(Set(config["target_modules"]?.arrayValue?.compactMap(\.stringValue) ?? []),
                       ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"])
        let adapter = try SafeTensorsFile(path: out + "/adapter/adapter_model.safetensors")
        XCTAssertEqual(adapter.names.count, 4 * 6 * 2)
        XCTAssertEqual(try adapter.tensor("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").shape, [4, 128])
        XCTAssertEqual(try adapter.tensor("base_model.model.model.layers.3.mlp.down_proj.lora_B.weight").shape, [128, 4])
        let ref = try reference("lora-trained-polynorm-demo")
        let model = try Architectures.load(path: out)
        let logits = try model.logits(for: try ref.tensor("tokens").ints())
        assertClose(logits.buffer.array, try ref.tensor("logits").floats(), tolerance: 1e-4, "merged model vs PEFT on the adapter")
        // The adapter applied at load (what serve --lora does) on the untouched base.
        let adapted = try Architectures.load(path: demo, adapter: out + "/adapter")
        assertClose(try adapted.logits(for: try ref.tensor("tokens").ints()).buffer.array, try ref.tensor("logits").floats(),
                    tolerance: 1e-4, "base + adapter at load vs PEFT")
        // eval --lora scores as the merged model does, and not as the base does.
        func loglikelihoods(_ args: [String]) throws -> [Double] {
            let file = temporaryDirectory() + "/samples.jsonl"
            let e = try polycom(["eval", "--task", "arc_easy", "--data-dir", fixturesDirectory + "/eval", "--limit", "3",
                                 "--log-samples", file] + args)
            XCTAssertEqual(e.status, 0, e.stderr)
            return try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").flatMap {
                try JSONValue.parse(String($0))["loglikelihoods"]!.arrayValue!.map { $0.doubleValue! }
            }
        }
        let withAdapter = try loglikelihoods(["--model", demo, "--lora", out + "/adapter"])
        let merged = try loglikelihoods(["--model", out]), base = try loglikelihoods(["--model", demo])
        XCTAssertEqual(withAdapter.count, merged.count)
        for (a, b) in zip(withAdapter, merged) { XCTAssertEqual(a, b, accuracy: 1e-4 * abs(b)) }
        XCTAssertGreaterThan(zip(withAdapter, base).map { abs($0 - $1) }.max()!, 0.1, "the adapter changes the scores")
    }

    /// --no-merge writes only the adapter; gradients and optimizer state go under PEFT's
    /// names; a resumed LoRA run continues exactly.
    func testLoRANoMergeDumpAndResume() throws {
        let whole = temporaryDirectory() + "/whole", cut = temporaryDirectory() + "/cut", dump = temporaryDirectory() + "/g.safetensors"
        let args = ["--seq-len", "32", "--batch-size", "2", "--lr", "1e-2", "--seed", "3", "--val-fraction", "0.1", "--threads", "1",
                    "--lora-rank", "2", "--no-merge"]
        XCTAssertEqual(try train(["--model", demo, "--steps", "4", "--dump-gradients", dump] + args, out: whole).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: whole + "/model.safetensors"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: whole + "/adapter/adapter_model.safetensors"))
        let grads = try SafeTensorsFile(path: dump).names
        XCTAssertEqual(grads.count, 4 * 2 * 2, "q_proj and v_proj of 4 layers, A and B")
        XCTAssertTrue(grads.allSatisfy { $0.hasPrefix("base_model.model.model.layers.") && $0.hasSuffix(".weight") }, "\(grads)")
        let optimizer = try SafeTensorsFile(path: whole + "/optimizer.safetensors").names
        XCTAssertEqual(Set(optimizer), Set(grads.flatMap { ["exp_avg." + $0, "exp_avg_sq." + $0] }))

        let first = try train(["--model", demo, "--steps", "4", "--save-every", "2"] + args, out: cut,
                              environment: ["POLYCOM_TRAIN_FAULT": "after-save:2"])
        XCTAssertNotEqual(first.status, 0)
        let resumed = try train(["--resume", cut, "--steps", "4"] + args, out: cut)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try metrics(whole).map { $0["loss"]!.doubleValue! }, try metrics(cut).map { $0["loss"]!.doubleValue! })
        XCTAssertEqual(FileManager.default.contents(atPath: whole + "/adapter/adapter_model.safetensors"),
                       FileManager.default.contents(atPath: cut + "/adapter/adapter_model.safetensors"))
    }

    /// A tiny MoE fixture with a byte-level tokenizer (ids below its 320-token vocabulary).
    func moeModel() throws -> String {
        let dir = temporaryDirectory() + "/moe", fm = FileManager.default
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for file in ["config.json", "model.safetensors"] {
            try fm.copyItem(atPath: fixtureModel("olmoe-polynorm-e8k2") + "/" + file, toPath: dir + "/" + file)
        }
        try fm.copyItem(atPath: fixturesDirectory + "/training/byte-tokenizer/tokenizer.json", toPath: dir + "/tokenizer.json")
        return dir
    }

    /// MoE metrics: the objective and its parts, and tokens per expert per layer on
    /// evaluation steps; the MoE checkpoint loads back.
    func testMoERunReportsRouterLossesAndCounts() throws {
        let out = temporaryDirectory() + "/run"
        let r = try train(["--model", try moeModel(), "--seq-len", "16", "--batch-size", "2", "--steps", "3", "--eval-every", "2",
                           "--val-fraction", "0.2", "--lr", "1e-3", "--router-aux-loss-coef", "0.05", "--threads", "1"], out: out)
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = try metrics(out)
        XCTAssertEqual(lines.count, 3)
        for line in lines {
            let ce = line["ce_loss"]!.doubleValue!, aux = line["aux_loss"]!.doubleValue!, z = line["z_loss"]!.doubleValue!
            XCTAssertGreaterThan(aux, 0)
            XCTAssertEqual(line["loss"]!.doubleValue!, ce + 0.05 * aux + 0.001 * z, accuracy: 1e-9 * ce)
        }
        XCTAssertNil(lines[0]["router_tokens_per_expert"])
        // Tokens × k routed per layer since the last report: steps 1–2, then step 3.
        for (line, steps) in [(lines[1], 2), (lines[2], 1)] {
            let counts = try XCTUnwrap(line["router_tokens_per_expert"]?.arrayValue).map { $0.arrayValue!.map { $0.intValue! } }
            XCTAssertEqual(counts.count, 2)
            for layer in counts { XCTAssertEqual(layer.count, 8); XCTAssertEqual(layer.reduce(0, +), steps * 2 * 16 * 2) }
        }
        XCTAssertNoThrow(try Architectures.load(path: out))
    }
}
