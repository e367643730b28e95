import Tokenizer

/// The text of one choice as tokens arrive: incremental decoding (never half a UTF-8
/// character), per-token strings for log-probs, and stop strings matched across token
/// boundaries and cut from the text.
public struct ChoiceText {
    private var decoder: StreamingDecoder
    /// Generated text so far, as unicode scalars (offsets count scalars, as Python's len).
    public private(set) var scalars: [Unicode.Scalar] = []
    /// The piece of text each token added (empty while a character is incomplete).
    public private(set) var tokenStrings: [String] = []
    /// Per token, the piece each of its top log-prob alternatives would have added in its
    /// place (nil where it adds nothing yet), in the order they were given.
    public private(set) var alternativeStrings: [[String?]] = []
    public private(set) var stopped = false
    /// The stop string that ended the text.
    public private(set) var matchedStop: String?
    private let stops: [[Unicode.Scalar]]
    private let includeStop: Bool
    /// Scalars already sent to a streaming client.
    private var sent = 0

    /// The decoder first reads the prompt, so the first generated token keeps the space a
    /// decoder strips at the start of a text ("▁is" → " is", as vLLM returns it).
    /// `includeStop` keeps a matched stop string at the end of the text (vLLM's
    /// `include_stop_str_in_output`).
    public init(tokenizer: Tokenizer, prompt: [Int], stops: [String], includeStop: Bool = false, skipSpecialTokens: Bool = false) {
        decoder = tokenizer.streamingDecoder(skipSpecialTokens: skipSpecialTokens)
        for token in prompt { _ = decoder.step(token) }
        self.stops = stops.filter { !$0.isEmpty }.map { Array($0.unicodeScalars) }
        self.includeStop = includeStop
    }

    public var text: String { String(String.UnicodeScalarView(scalars)) }

    /// Adds a token; returns true when a stop string now ends the text.
    public mutating func append(_ token: Int, alternatives: [Int] = []) -> Bool {
        alternativeStrings.append(Self.pieces(alternatives, after: decoder))
        let piece = decoder.step(token) ?? ""
        tokenStrings.append(piece)
        let before = scalars.count
        scalars += piece.unicodeScalars
        return checkStops(since: before)
    }

    /// What each of `tokens` would add to the text `decoder` has read so far. Alternatives
    /// are decoded in the sequence's context, as the chosen token is (vLLM's detokenizer
    /// does the same): alone, a SentencePiece "▁the" would lose its space and read "the",
    /// the key "▁an" would read as "an", and two tokens differing only in that space would
    /// collide under one key.
    public static func pieces(_ tokens: [Int], after decoder: StreamingDecoder) -> [String?] {
        tokens.map { token in
            var d = decoder
            return d.step(token)
        }
    }

    /// Flushes bytes held back at the end (an incomplete character becomes U+FFFD).
    public mutating func finish() {
        guard !stopped, let tail = decoder.finish(), !tail.isEmpty else { return }
        let before = scalars.count
        scalars += tail.unicodeScalars
        if tokenStrings.isEmpty { tokenStrings.append(tail) } else { tokenStrings[tokenStrings.count - 1] += tail }
        _ = checkStops(since: before)
    }

    private mutating func checkStops(since before: Int) -> Bool {
        guard !stops.isEmpty else { return false }
        let longest = stops.map(\.count).max()!
        // A stop string ending in the new text may start up to longest-1 scalars earlier.
        let from = max(0, before - longest + 1)
        // The match that starts first; of two starting together, the one listed first.
        var cut: (at: Int, stop: [Unicode.Scalar])?
        for stop in stops where stop.count <= scalars.count {
            var i = from
            while i + stop.count <= scalars.count {
                if scalars[i..<(i + stop.count)].elementsEqual(stop) {
                    if i < (cut?.at ?? .max) { cut = (i, stop) }
                    break
                }
                i += 1
            }
        }
        guard let (at, stop) = cut else { return false }
        scalars.removeSubrange((includeStop ? at + stop.count : at)...)
        matchedStop = String(String.UnicodeScalarView(stop))
        stopped = true
        return true
    }

    /// Text that can be streamed now: everything except a tail that might still become
    /// the start of a stop string (all of it once `final`).
    public mutating func takeStreamable(final: Bool) -> String {
        let holdBack = final || stopped ? 0 : max(0, (stops.map(\.count).max() ?? 1) - 1)
        let end = max(sent, scalars.count - holdBack)
        defer { sent = end }
        return String(String.UnicodeScalarView(scalars[sent..<end]))
    }
}
