import Foundation
import FuzzSupport
import Tokenizer

/// libFuzzer entry point: any bytes as tokenizer.json. Refused with an error, or a
/// tokenizer that encodes and decodes text taken from the input itself (its start and end,
/// as UTF-8 with invalid sequences replaced) and decodes ids taken from its bytes, whole and
/// streamed, without trapping. Offsets must lie inside the text they were encoded from.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = bytes(data, size)
    guard let tokenizer = try? Tokenizer(tokenizerJSON: Data(input)) else { return 0 }
    let texts = [String(decoding: input.prefix(1024), as: UTF8.self), String(decoding: input.suffix(128), as: UTF8.self), ""]
    for text in texts {
        let encoding = tokenizer.encodeWithOffsets(text)
        precondition(encoding.ids == tokenizer.encode(text), "encode and encodeWithOffsets disagree")
        let length = text.unicodeScalars.count
        for o in encoding.offsets {
            precondition(o.start >= 0 && o.start <= o.end && o.end <= length, "offset \(o) in a \(length)-scalar text")
        }
        _ = tokenizer.encode(text, addSpecialTokens: false)
        _ = tokenizer.decode(encoding.ids, skipSpecialTokens: true, cleanUpTokenizationSpaces: true)
    }
    // Ids from the bytes: every id a byte names (small vocabularies), and past the end.
    let ids = input.prefix(64).map { Int($0) } + [tokenizer.vocabSize, -1, Int.max]
    _ = tokenizer.decode(ids)
    var stream = tokenizer.streamingDecoder()
    for id in ids { _ = stream.step(id) }
    _ = stream.finish()
    for id in ids.prefix(8) { _ = tokenizer.idToToken(id).map { tokenizer.tokenToId($0) } }
    return 0
}

@_cdecl("fuzz_tokenizer_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { fuzzTokenizer($0, $1) }
}
