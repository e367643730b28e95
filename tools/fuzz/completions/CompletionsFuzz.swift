import FuzzSupport
@testable import Server
import Tokenizer

/// The small byte-level tokenizer of the training fixtures (257 ids, one special token).
let tokenizer = try! Tokenizer(path: fixture("training/byte-tokenizer"))

/// The engine's and `ServerOptions`' defaults, on a 512-token model.
let limits = CompletionRequest.Limits(maxSequences: 256, maxModelLength: 512, vocabSize: tokenizer.vocabSize,
                                      maxPromptTokens: nil, maxGeneratedTokens: 65_536, maxLogprobs: 20)

/// libFuzzer entry point: any bytes as a `POST /v1/completions` body, through what the
/// endpoint does before it queues sequences. Refused with an `APIError`, or accepted within
/// every limit the engine relies on.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCompletions(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let body: CompletionRequest
    do {
        body = try CompletionRequest(body: bytes(data, size), tokenizer: tokenizer, servedModel: "polycom", limits: limits)
    } catch is APIError {
        return 0
    } catch {
        preconditionFailure("not an APIError: \(error)")
    }
    precondition(!body.prompts.isEmpty && body.prompts.count == body.promptTexts.count, "prompts \(body.prompts.count)")
    precondition(body.prompts.count * body.bestOf <= limits.maxSequences, "\(body.prompts.count) prompts × \(body.bestOf)")
    precondition(body.n >= 1 && body.n <= body.bestOf, "n \(body.n), best_of \(body.bestOf)")
    for prompt in body.prompts {
        precondition(!prompt.isEmpty && prompt.count + body.params.maxTokens <= limits.maxModelLength,
                     "a \(prompt.count)-token prompt with max_tokens \(body.params.maxTokens)")
    }
    precondition(body.params.maxTokens >= 0 && (body.params.maxTokens > 0 || body.echo), "max_tokens \(body.params.maxTokens)")
    precondition(body.params.logitBias.keys.allSatisfy { $0 >= 0 && $0 < limits.vocabSize }, "logit_bias ids")
    precondition(body.params.stopTokenIds.allSatisfy { $0 >= 0 && $0 < limits.vocabSize }, "stop_token_ids")
    return 0
}

@_cdecl("fuzz_completions_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { fuzzCompletions($0, $1) }
}
