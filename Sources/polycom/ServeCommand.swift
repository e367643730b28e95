import ArgumentParser
import Foundation
import Kernels
import Server

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model over HTTP (OpenAI / vLLM-compatible API).",
        discussion: """
            Endpoints: POST /v1/completions, POST /v1/loglikelihood, POST /tokenize, POST /detokenize, \
            GET /tokenizer_info (also under /v1), GET /v1/models, GET /health, GET /metrics.
            The web playground: GET / (loads without the API key; the page asks for it).

            Example:
              polycom serve --model Models/polynorm-demo --port 8000
              curl localhost:8000/v1/completions -d '{"prompt": "The capital of France is", "max_tokens": 8}'
            """)

    @Option(help: "Checkpoint folder with config.json, weights and tokenizer.json.")
    var model = "Models/polynorm-kjv"

    @Option(help: "A PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors) merged into the model at load.")
    var lora: String?

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port: UInt16 = 8000

    @Option(help: "Require `Authorization: Bearer <key>` (also read from POLYCOM_API_KEY).")
    var apiKey: String?

    @Option(help: "Model id in the API (default: the folder name).")
    var servedModelName: String?

    @Option(help: "Most tokens per forward pass (decode tokens plus prompt chunks).")
    var maxBatchTokens = 512

    @Option(help: "Most sequences running at once.")
    var maxSequences = 32

    @Option(help: "Most sequences waiting before new requests get 429; also the most one completion request may ask for (prompts × best_of).")
    var maxQueue = 256

    @Option(help: "GiB the running sequences' KV caches may take (default: a quarter of memory).")
    var kvCacheGib: Double?

    @Option(help: "GiB kept for the prefix cache (KV of recent prompts, reused by later ones); 0 turns it off.")
    var prefixCacheGib: Double = 0.5

    @Flag(help: "Log one line per request (method, path, status, milliseconds).")
    var logRequests = false

    @Option(help: "Largest request body in bytes (larger: 413).")
    var maxBodyBytes = 8 << 20

    @Option(help: "Open connections before the longest-idle one is closed to make room; when every one is busy, more get 503 (/health is still answered).")
    var maxConnections = 256

    @Option(help: "Seconds a client has to send a whole request, headers and body (total time, not per byte); slower connections are closed.")
    var requestTimeout: Double = 30

    @Option(help: "Longest prompt of a completion, in tokens (default: the model's context length; longer: 400).")
    var maxPromptTokens: Int?

    @Option(help: "Most tokens one completion request may generate, prompts × best_of × max_tokens (more: 400).")
    var maxGeneratedTokens = 65_536

    @Option(help: "Largest 'logprobs' a completion may ask for (more: 400).")
    var maxLogprobs = 20

    @Option(help: "Most (context, continuation) pairs in one /v1/loglikelihood request (more: 400).")
    var maxLoglikelihoodItems = 100_000

    @OptionGroup var compute: ComputeFlags

    func validate() throws {
        guard maxBatchTokens > 0, maxSequences > 0, maxQueue > 0, maxBodyBytes > 0, maxLoglikelihoodItems > 0 else {
            throw ValidationError("--max-batch-tokens, --max-sequences, --max-queue, --max-body-bytes and --max-loglikelihood-items must be positive")
        }
        if let maxPromptTokens, maxPromptTokens <= 0 { throw ValidationError("--max-prompt-tokens must be positive") }
        if maxGeneratedTokens <= 0 || maxLogprobs < 0 { throw ValidationError("--max-generated-tokens must be positive and --max-logprobs ≥ 0") }
        if maxConnections <= 0 { throw ValidationError("--max-connections must be positive") }
        if !(requestTimeout > 0) { throw ValidationError("--request-timeout must be positive") }
        if let kvCacheGib, !(kvCacheGib > 0) { throw ValidationError("--kv-cache-gib must be positive") }
        if !(prefixCacheGib >= 0) { throw ValidationError("--prefix-cache-gib must be ≥ 0") }
    }

    func run() throws {
        var options = ServerOptions()
        options.host = host
        options.lora = lora
        options.port = port
        options.apiKey = apiKey ?? ProcessInfo.processInfo.environment["POLYCOM_API_KEY"]
        options.servedModelName = servedModelName
        options.maxBodyBytes = maxBodyBytes
        options.maxLoglikelihoodItems = maxLoglikelihoodItems
        options.maxConnections = maxConnections
        options.requestTimeoutSeconds = requestTimeout
        options.weightLoading = compute.loading
        options.maxPromptTokens = maxPromptTokens
        options.maxGeneratedTokens = maxGeneratedTokens
        options.maxLogprobs = maxLogprobs
        options.logRequests = logRequests
        options.engine.maxBatchTokens = maxBatchTokens
        options.engine.maxSequences = maxSequences
        options.engine.maxQueue = maxQueue
        options.engine.kvCacheBytes = kvCacheGib.map { Int($0 * Double(1 << 30)) }
        options.engine.prefixCacheBytes = Int(prefixCacheGib * Double(1 << 30))
        options.compute = compute.options()

        let service = InferenceService(modelPath: model, options: options)
        let bound = try service.start()
        service.log(BLASCore.summary)
        service.log(MallocHugePages.summary)
        service.log("polycom listening on http://\(host):\(bound) — loading \(model)")
        // SIGINT / SIGTERM: stop accepting, finish in-flight requests, exit 0. The handler
        // only writes a byte to a pipe (async-signal-safe); a thread of ours does the work.
        let signalled = StopSignal.install()
        Thread.detachNewThread {
            let number = signalled.wait()
            service.log("received signal \(number): draining in-flight requests")
            service.drainAndStop()
            service.log("stopped")
            Foundation.exit(0)
        }
        do {
            try service.load { model in BLASThreads.set(for: model) }
        } catch {
            service.log("error: \(error)")
            throw ExitCode.failure
        }
        service.log("ready: http://\(host):\(bound)/v1  (model id '\(service.modelId)')")
        service.log("playground: http://\(host):\(bound)/")
        while true { sleep(3600) }
    }
}

/// SIGINT / SIGTERM delivered through a self-pipe.
enum StopSignal {
    nonisolated(unsafe) private static var pipeFDs: [Int32] = [-1, -1]

    struct Waiter {
        let fd: Int32
        /// Blocks until a stop signal arrives; returns its number.
        func wait() -> Int32 {
            var byte: UInt8 = 0
            while read(fd, &byte, 1) != 1 {}
            return Int32(byte)
        }
    }

    static func install() -> Waiter {
        pipe(&pipeFDs)
        for sig in [SIGINT, SIGTERM] {
            signal(sig) { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(StopSignal.pipeFDs[1], &byte, 1)
            }
        }
        return Waiter(fd: pipeFDs[0])
    }
}
