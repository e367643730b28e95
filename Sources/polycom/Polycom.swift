import ArgumentParser
import Kernels

@main
struct Polycom: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "polycom",
        abstract: "Run PolyCom language models (PolyNorm / PolyReLU, dense and MoE) on CPUs.",
        discussion: """
            A model is a Hugging Face checkpoint folder: config.json, model.safetensors (or \
            shards with model.safetensors.index.json) and tokenizer.json.

            Examples:
              polycom serve --model Models/polynorm-demo --port 8000
              polycom generate --model Models/polynorm-demo --prompt "The capital of France is" --max-tokens 16
              polycom inspect Configs/PolyNorm_1B
              polycom forward --model Models/polynorm-demo --tokens 1,415,5565 --out logits.safetensors
              echo '{"text": "Hello"}' | polycom tokenize --tokenizer Models/polynorm-demo --jsonl
              polycom bench model --model Models/polynorm-demo
              polycom convert --to q8 Models/polynorm-demo Models/polynorm-demo-q8
            """,
        subcommands: [Serve.self, Generate.self, Forward.self, Inspect.self, Tokenize.self, Detokenize.self, Bench.self, Convert.self, Train.self, Eval.self])

    static func main() {
        // Before any thread starts: OpenBLAS chose its kernels when it loaded, glibc read its
        // malloc tunables.
        StartupEnvironment.restartIfNeeded()
        main(nil)
    }
}
