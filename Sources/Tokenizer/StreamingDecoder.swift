/// Incremental detokenization for streamed generation, with HF's `DecodeStream` strategy:
/// decode a short window of recent ids, emit only what extends the window's previous text,
/// and hold back while the text ends in U+FFFD (an unfinished UTF-8 sequence). Decoding a
/// window rather than the lone new id keeps context-dependent decoders right (Llama's Strip
/// of the first space, Metaspace, byte runs split across tokens).
public struct StreamingDecoder {
    private let tokenizer: Tokenizer
    private let skipSpecialTokens: Bool
    private var ids: [Int] = []
    private var prefix: [UInt32] = []
    private var prefixIndex = 0

    init(tokenizer: Tokenizer, skipSpecialTokens: Bool) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Feeds one id; returns newly completed text, or nil when nothing can be emitted yet.
    public mutating func step(_ id: Int) -> String? {
        if prefix.isEmpty && !ids.isEmpty {
            let newPrefix = tokenizer.decodeScalars(ids, skipSpecialTokens: skipSpecialTokens)
            if newPrefix.last != 0xFFFD {
                prefix = newPrefix
                prefixIndex = ids.count
            }
        }
        ids.append(id)
        let text = tokenizer.decodeScalars(ids, skipSpecialTokens: skipSpecialTokens)
        guard text.count > prefix.count, text.last != 0xFFFD else { return nil }
        // HF reports an error when the window text stops extending its prefix; we emit the
        // tail past the prefix length, which is the best a stream that cannot retract can do.
        let newText = String(scalarValues: text[prefix.count...])
        let newPrefixIndex = ids.count - prefixIndex
        ids.removeFirst(prefixIndex)
        prefix = tokenizer.decodeScalars(ids, skipSpecialTokens: skipSpecialTokens)
        prefixIndex = newPrefixIndex
        return newText
    }

    /// Emits whatever is still held back (e.g. a trailing incomplete character, as U+FFFD)
    /// at the end of generation, and resets the decoder.
    public mutating func finish() -> String? {
        let text = tokenizer.decodeScalars(ids, skipSpecialTokens: skipSpecialTokens)
        defer { ids = []; prefix = []; prefixIndex = 0 }
        guard text.count > prefix.count else { return nil }
        return String(scalarValues: text[prefix.count...])
    }
}
