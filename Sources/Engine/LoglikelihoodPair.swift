import Tokenizer

/// One (context, continuation) pair to score, in tokens: the log-likelihood of
/// `continuation` given `context`.
public struct ScoringPair: Sendable, Equatable, Hashable {
    public var context: [Int]
    public var continuation: [Int]
    public init(context: [Int], continuation: [Int]) {
        self.context = context
        self.continuation = continuation
    }
}

/// A pair that cannot be scored; `index` is its position in the caller's list.
public enum LoglikelihoodError: Error, CustomStringConvertible, Equatable {
    case emptyContinuation(index: Int)
    case emptyContext(index: Int)
    case tooLong(index: Int, tokens: Int, limit: Int)
    case invalidToken(index: Int, token: Int)
    /// The engine refused the pair (a token outside the vocabulary, too little KV memory).
    case rejected(index: Int, reason: String)
    /// The engine stopped or failed before the pair was scored.
    case interrupted(index: Int, reason: String)

    public var index: Int {
        switch self {
        case .emptyContinuation(let i), .emptyContext(let i), .tooLong(let i, _, _), .invalidToken(let i, _),
             .rejected(let i, _), .interrupted(let i, _):
            return i
        }
    }

    public var description: String {
        switch self {
        case .emptyContinuation: return "the continuation is empty"
        case .emptyContext: return "the context is empty and the tokenizer has no BOS or EOS token to stand for it"
        case .tooLong(_, let t, let limit): return "\(t) tokens exceed the maximum context length \(limit)"
        case .invalidToken(_, let t): return "token ids must be non-negative integers (got \(t))"
        case .rejected(_, let reason): return reason
        case .interrupted(_, let reason): return "scoring was interrupted: \(reason)"
        }
    }
}

/// lm-evaluation-harness's rule for turning text pairs into token pairs, so that scores
/// agree with it token for token:
/// - trailing whitespace of the context (Python's `rstrip`) moves to the continuation;
/// - the continuation's tokens are `encode(context + continuation)` past `encode(context)`'s
///   length (a word split across the boundary is tokenized as in running text);
/// - an empty context becomes the prefix token (BOS, else EOS) — or, when the
///   continuation itself starts with that token, its first token;
/// - a pair longer than `maxLength` keeps its last `maxLength` tokens when `truncate`
///   (lm-eval cuts contexts from the left) and is refused otherwise.
public struct LoglikelihoodPairRule: Sendable {
    public let tokenizer: Tokenizer
    /// BOS before every context when the tokenizer's template adds one (HF
    /// `add_special_tokens`); lm-eval's API models and its defaults add none.
    public var addSpecialTokens: Bool
    public var maxLength: Int
    public var truncate: Bool

    public init(tokenizer: Tokenizer, addSpecialTokens: Bool, maxLength: Int, truncate: Bool) {
        self.tokenizer = tokenizer
        self.addSpecialTokens = addSpecialTokens
        self.maxLength = maxLength
        self.truncate = truncate
    }

    /// The token that conditions an empty context (lm-eval's `prefix_token_id`).
    public var prefixToken: Int? { tokenizer.bosTokenId ?? tokenizer.eosTokenId }

    /// The tokens the template puts before text (BOS), or none.
    private var leading: [Int] {
        guard addSpecialTokens, let bos = tokenizer.bosTokenId,
              tokenizer.encode("", addSpecialTokens: true).first == bos else { return [] }
        return [bos]
    }

    /// Tokenizes a text pair; `encodedContext` caches `encode(context)` across the choices
    /// of one document (pass the same dictionary for all of them).
    public func pair(context: String, continuation: String, index: Int,
                     encodedContext: inout [String: [Int]]) throws -> ScoringPair {
        guard !context.isEmpty else {
            let cont = leading + tokenizer.encode(continuation, addSpecialTokens: false)
            guard let prefix = prefixToken else { throw LoglikelihoodError.emptyContext(index: index) }
            if cont.first == prefix { return try fit(context: [prefix], continuation: Array(cont.dropFirst()), index: index) }
            return try fit(context: [prefix], continuation: cont, index: index)
        }
        var ctx = context, cont = continuation
        let stripped = PythonString.rstrip(ctx)
        if stripped.unicodeScalars.count < ctx.unicodeScalars.count {
            cont = String(ctx.unicodeScalars.dropFirst(stripped.unicodeScalars.count)) + cont
            ctx = stripped
        }
        let contextTokens: [Int]
        if let cached = encodedContext[ctx] {
            contextTokens = cached
        } else {
            contextTokens = leading + tokenizer.encode(ctx, addSpecialTokens: false)
            encodedContext[ctx] = contextTokens
        }
        let whole = leading + tokenizer.encode(ctx + cont, addSpecialTokens: false)
        var contextPart = contextTokens
        if contextPart.isEmpty, let prefix = prefixToken { contextPart = [prefix] }
        return try fit(context: contextPart, continuation: Array(whole.dropFirst(min(contextTokens.count, whole.count))),
                       index: index)
    }

    public func pair(context: String, continuation: String, index: Int) throws -> ScoringPair {
        var cache: [String: [Int]] = [:]
        return try pair(context: context, continuation: continuation, index: index, encodedContext: &cache)
    }

    /// A pair given as token ids: checked, an empty context becomes the prefix token.
    public func pair(context: [Int], continuation: [Int], index: Int) throws -> ScoringPair {
        if let bad = (context + continuation).first(where: { $0 < 0 }) {
            throw LoglikelihoodError.invalidToken(index: index, token: bad)
        }
        var ctx = context
        if ctx.isEmpty {
            guard let prefix = prefixToken else { throw LoglikelihoodError.emptyContext(index: index) }
            ctx = [prefix]
        }
        return try fit(context: ctx, continuation: continuation, index: index)
    }

    /// lm-eval's left truncation: `(ctx + cont)[-maxLength:]`, the context shortened by
    /// the excess; the continuation itself is never cut.
    private func fit(context: [Int], continuation: [Int], index: Int) throws -> ScoringPair {
        guard !continuation.isEmpty else { throw LoglikelihoodError.emptyContinuation(index: index) }
        guard !context.isEmpty else { throw LoglikelihoodError.emptyContext(index: index) }
        let total = context.count + continuation.count
        guard total > maxLength else { return ScoringPair(context: context, continuation: continuation) }
        guard truncate, continuation.count < maxLength else {
            throw LoglikelihoodError.tooLong(index: index, tokens: total, limit: maxLength)
        }
        return ScoringPair(context: Array(context.suffix(maxLength - continuation.count)), continuation: continuation)
    }
}
