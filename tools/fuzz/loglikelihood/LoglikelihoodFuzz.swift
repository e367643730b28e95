import Engine
import FuzzSupport
@testable import Server
import Tokenizer

/// The small byte-level tokenizer of the training fixtures (257 ids, one special token).
let tokenizer = try! Tokenizer(path: fixture("training/byte-tokenizer"))
let maxLength = 512

/// libFuzzer entry point: any bytes as a `POST /v1/loglikelihood` body, through what the
/// endpoint does before it hands the pairs to the engine. Refused with an `APIError`, or
/// pairs the engine can score: non-empty, within the context, ids in the vocabulary.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLoglikelihood(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let pairs: [ScoringPair]
    do {
        pairs = try LoglikelihoodEndpoint.pairs(bytes(data, size), maxItems: 100_000, limit: maxLength,
                                                vocabulary: tokenizer.vocabSize, tokenizer: tokenizer)
    } catch is APIError {
        return 0
    } catch {
        preconditionFailure("not an APIError: \(error)")
    }
    precondition(!pairs.isEmpty)
    for p in pairs {
        precondition(!p.context.isEmpty && !p.continuation.isEmpty && p.context.count + p.continuation.count <= maxLength,
                     "\(p.context.count) + \(p.continuation.count) tokens")
        precondition((p.context + p.continuation).allSatisfy { $0 >= 0 && $0 < tokenizer.vocabSize }, "ids outside the vocabulary")
    }
    return 0
}

@_cdecl("fuzz_loglikelihood_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { fuzzLoglikelihood($0, $1) }
}
