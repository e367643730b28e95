import ArgumentParser
import Checkpoint
import Foundation
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

    @Flag(help: "Print {\"tokens\": [...]} instead of one id per line.")
    var json = false

    func validate() throws {
        guard (tokens == nil) != (prompt == nil) else { throw ValidationError("give exactly one of --tokens and --prompt") }
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be ≥ 0") }
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be ≥ 0") }
    }

    func run() throws {
        let m = try Architectures.load(path: model)
        let tokenizer = prompt == nil ? nil : try Tokenizer(path: model)
        let ids = tokens?.ids ?? tokenizer!.encode(prompt!, addSpecialTokens: true)
        var decoder = tokenizer?.streamingDecoder()
        for id in ids { _ = decoder?.step(id) } // so the first new token keeps its leading space
        var text = ""
        var params = SamplingParams()
        params.temperature = temperature
        params.seed = seed
        var sampler = Sampler(params: params, fallbackSeed: seed)
        var output: [Int] = []
        let stops = stopTokenIds(config: m.config, generationConfig: try GenerationConfig.load(folder: model),
                                 tokenizerEOS: tokenizer?.eosTokenId)
        let generated = try m.generate(prompt: ids, maxTokens: maxTokens, ignoreEOS: ignoreEos, eosTokenIds: stops,
                                       pick: { sampler.sample($0, prompt: ids, output: output) }) { token in
            output.append(token)
            if decoder != nil {
                let piece = decoder!.step(token) ?? ""
                text += piece
                if !json { FileHandle.standardOutput.write(piece.data(using: .utf8)!) }
            } else if !json {
                print(token)
            }
        }
        if let tail = decoder?.finish() {
            text += tail
            if !json { FileHandle.standardOutput.write(tail.data(using: .utf8)!) }
        }
        if json {
            var o = JSONObject([("tokens", .array(generated.map { .int($0) }))])
            if tokenizer != nil { o["text"] = .string(text) }
            print(JSONValue.object(o).serialized())
        } else if tokenizer != nil {
            print()
        }
    }
}
