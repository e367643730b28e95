import ArgumentParser

@main
struct Polycom: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "polycom",
        abstract: "Run PolyCom language models (PolyNorm / PolyReLU, dense and MoE) on CPUs.",
        discussion: """
            A model is a Hugging Face checkpoint folder: config.json, model.safetensors (or \
            shards with model.safetensors.index.json) and tokenizer.json.

            Examples:
              polycom inspect Configs/PolyNorm_1B
              polycom forward --model Models/polynorm-tiny --tokens 5,17,42 --out logits.safetensors
              polycom generate --model Models/polynorm-tiny --tokens 5,17,42 --max-tokens 12 --json
            """,
        subcommands: [Serve.self, Generate.self, Forward.self, Inspect.self, Bench.self])
}
