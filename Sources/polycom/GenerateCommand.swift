import ArgumentParser
import Checkpoint
import Foundation
import Kernels
import JSON
import Engine
import Model
import Tokenizer

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt through the KV cache (greedy at temperature 0).",
        discussion: """
            polycom generate --model Models/polynorm-demo --prompt "The capital of France is" --max-tokens 16
            polycom generate --model DIR --tokens 5,17,42 --max-tokens 12 --temperature 0 --json
            """)

    @Option(help: "Checkpoint folder.")
    var model: String

    @Option(help: "Prompt as comma-separated token ids, e.g. 5,17,42.")
    var tokens: TokenList?

    @Option(help: "Prompt as text, tokenized with the model's tokenizer.json (BOS added as the tokenizer says).")
    var prompt: String?

    @Option(help: "Most tokens to generate.")
    var maxTokens = 16

    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0

    @Option(help: "Random seed for sampling.")
    var seed: UInt64 = 0

    @Flag(help: "Keep going past end-of-sequence tokens.")
    var ignoreEos = false

    @Option(help: "Stop when the text contains this string (repeatable); the string is not printed.")
    var stop: [String] = []

    @Flag(help: "Print {\"tokens\": [...]} instead of one id per line.")
    var json = false

    @Option(help: WeightFormat.help)
    var weights: WeightFormat = .auto

    func validate() throws {
        guard (tokens == nil) != (prompt == nil) else { throw ValidationError("give exactly one of --tokens and --prompt") }
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be ≥ 0") }
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be ≥ 0") }
    }

    /// Runs on the server's engine: the same sampler, end-of-sequence ids and stop strings,
    /// so `generate` and `/v1/completions` cannot disagree.
    func run() throws {
        let m = try Architectures.load(path: model, options: ComputeOptions(weights: weights))
        // The tokenizer's EOS ends generation too, so it is read even for --tokens, from
        // tokenizer.json or (SentencePiece folders) tokenizer.model.
        let hasTokenizer = Tokenizer.file(inFolder: URL(fileURLWithPath: model)) != nil
        let tokenizer = prompt != nil || hasTokenizer ? try Tokenizer(path: model) : nil
        guard stop.isEmpty || tokenizer != nil else { throw ValidationError("--stop needs the model's tokenizer.json or tokenizer.model") }
        let ids = tokens?.ids ?? tokenizer!.encode(prompt!, addSpecialTokens: true)
        guard maxTokens > 0 else { return report([], text: tokenizer == nil ? nil : "") }

        let eos = stopTokenIds(config: m.config, generationConfig: try GenerationConfig.load(folder: model),
                               tokenizerEOS: tokenizer?.eosTokenId)
        let engine = Engine(model: m, eosTokenIds: eos)
        engine.start()
        defer { engine.shutdown() }
        var params = SamplingParams()
        params.maxTokens = maxTokens
        params.temperature = temperature
        params.seed = seed
        params.ignoreEOS = ignoreEos
        let handle = try engine.submit(GenerationRequest(prompt: ids, params: params))
        var text = tokenizer.map { ChoiceText(tokenizer: $0, prompt: ids, stops: stop) }
        var generated: [Int] = []
        loop: while let event = handle.next() {
            switch event {
            case .token(let token, _):
                generated.append(token)
                guard text != nil else {
                    if !json { print(token) }
                    continue
                }
                let stopped = text!.append(token)
                if !json { write(text!.takeStreamable(final: stopped)) }
                if stopped {
                    handle.cancel()
                    break loop
                }
            case .finished:
                text?.finish()
                if !json, text != nil { write(text!.takeStreamable(final: true)) }
                break loop
            case .failed(let message):
                throw ValidationError(message)
            case .promptLogprobs:
                continue
            }
        }
        report(generated, text: text?.text)
    }

    private func write(_ piece: String) {
        if !piece.isEmpty { FileHandle.standardOutput.write(piece.data(using: .utf8)!) }
    }

    private func report(_ generated: [Int], text: String?) {
        if json {
            var o = JSONObject([("tokens", .array(generated.map { .int($0) }))])
            if let text { o["text"] = .string(text) }
            print(JSONValue.object(o).serialized())
        } else if text != nil {
            print()
        }
    }
}
