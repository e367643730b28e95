import ArgumentParser
import Foundation
import JSON
import Model

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt through the KV cache (greedy at temperature 0).")

    @Option(help: "Checkpoint folder.")
    var model: String

    @Option(help: "Prompt as comma-separated token ids, e.g. 5,17,42.")
    var tokens: TokenList

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
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be ≥ 0") }
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be ≥ 0") }
    }

    func run() throws {
        let m = try Architectures.load(path: model)
        var sampler = SimpleSampler(temperature: temperature, seed: seed)
        let generated = try m.generate(prompt: tokens.ids, maxTokens: maxTokens, sampler: &sampler,
                                       ignoreEOS: ignoreEos) { token in
            if !json { print(token) }
        }
        if json { print(JSONValue.object(JSONObject([("tokens", .array(generated.map { .int($0) }))])).serialized()) }
    }
}
