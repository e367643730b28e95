import FuzzSupport
import Tokenizer
import Training

/// The small byte-level tokenizer of the training fixtures (257 ids, `<|endoftext|>` 256).
let tokenizer = try! Tokenizer(path: fixture("training/byte-tokenizer"))
let seqLen = 16, eos = 256, pad = 256

/// libFuzzer entry point: any bytes as a `polycom train --data` JSONL file. Refused with a
/// `TrainingError`, or examples of exactly `seqLen` tokens with ids in the vocabulary and
/// targets that are ids or -100 (ignored).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTrainingData(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    writeScratch(bytes(data, size))
    let file: TrainingData
    do {
        file = try TrainingData(path: scratchPath, tokenizer: tokenizer, seqLen: seqLen, eos: eos, pad: pad)
    } catch is TrainingError {
        return 0
    } catch {
        preconditionFailure("not a TrainingError: \(error)")
    }
    let vocabulary = 0..<Int32(tokenizer.vocabSize)
    for e in file.examples {
        precondition(e.tokens.count == seqLen && e.targets.count == seqLen, "\(e.tokens.count) tokens, \(e.targets.count) targets")
        precondition(e.tokens.allSatisfy(vocabulary.contains) && e.targets.allSatisfy { $0 == -100 || vocabulary.contains($0) },
                     "ids outside the vocabulary")
    }
    return 0
}

@_cdecl("fuzz_training_data_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { fuzzTrainingData($0, $1) }
}
