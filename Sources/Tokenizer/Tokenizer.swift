import Foundation
import JSON

/// A Hugging Face `tokenizer.json` tokenizer (BPE, byte-level or SentencePiece-style), giving
/// the same ids, offsets and decoded text as the Rust `tokenizers` library.
///
/// Supported `"type"`s (anything else is a thrown `TokenizerError.unsupported` at load time):
/// - normalizer: NFC, NFKC, NFD, NFKD, Prepend, Replace (literal pattern), Lowercase, Strip, Sequence
/// - pre_tokenizer: ByteLevel, Metaspace, Split (literal or the GPT-2 regex), Digits,
///   WhitespaceSplit, Sequence
/// - model: BPE (byte_fallback, fuse_unk, ignore_merges, unk_token, subword prefix/suffix)
/// - post_processor: TemplateProcessing (single sequence), ByteLevel (offset trimming), Sequence
/// - decoder: ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence
///
/// A tokenizer.json alone behaves like `tokenizers.Tokenizer.from_file`. Loaded from a path
/// with a `tokenizer_config.json` / `special_tokens_map.json` beside it, it behaves like
/// transformers' `AutoTokenizer`: `add_bos_token` / `add_eos_token` rebuild the template and the
/// configured special tokens are matched in text as special added tokens. A folder with a
/// SentencePiece `tokenizer.model` and no tokenizer.json gets what `LlamaTokenizerFast` converts
/// it to (see `SentencePieceConverter`).
///
/// Offsets are unicode-scalar (Python `str`) offsets into the input, as HF reports them.
/// Thread-safe: encoding and decoding may run concurrently (the word cache is locked).
public final class Tokenizer: @unchecked Sendable {
    private let normalizer: Normalizer?
    private let preTokenizer: PreTokenizer?
    private let model: BPEModel
    private let postProcessor: PostProcessor?
    private let decoder: Decoder?
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher
    private let addedById: [Int32: AddedToken]
    private let addedByContent: [[UInt32]: Int32]
    private let specialIds: Set<Int32>

    /// Number of ids (highest id in the vocabulary or added tokens, plus one).
    public let vocabSize: Int
    public let bosToken: String?
    public let eosToken: String?
    public let padToken: String?
    public let unkToken: String?
    public let bosTokenId: Int?
    public let eosTokenId: Int?
    public let padTokenId: Int?
    public let unkTokenId: Int?
    /// tokenizer_config.json `clean_up_tokenization_spaces`; `decode` applies it only when asked.
    public let cleanUpTokenizationSpaces: Bool
    /// tokenizer_config.json `model_max_length`; nil when absent or unlimited.
    public let modelMaxLength: Int?

    /// `path` is a tokenizer.json (or SentencePiece tokenizer.model) file or a model directory
    /// containing one. A tokenizer_config.json / special_tokens_map.json beside it is read when
    /// present.
    public convenience init(path: String) throws {
        try self.init(url: URL(fileURLWithPath: path))
    }

    /// The tokenizer file a model folder holds: tokenizer.json, else (SentencePiece-only
    /// folders) tokenizer.model; nil when it has neither.
    public static func file(inFolder folder: URL) -> URL? {
        ["tokenizer.json", "tokenizer.model"].lazy.map { folder.appendingPathComponent($0) }
            .first { FileManager.default.fileExists(atPath: $0.path) }
    }

    public convenience init(url: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw TokenizerError.fileNotFound(url.path)
        }
        let folder = isDirectory.boolValue ? url : url.deletingLastPathComponent()
        let config = try TokenizerConfig.load(folder.appendingPathComponent("tokenizer_config.json"))
        let map = try TokenizerConfig.load(folder.appendingPathComponent("special_tokens_map.json"))
        let file = isDirectory.boolValue ? Self.file(inFolder: folder) ?? folder.appendingPathComponent("tokenizer.json") : url
        if file.pathExtension == "model" {
            try self.init(sentencePieceModel: readFile(file), config: config, specialTokensMap: map)
        } else {
            try self.init(tokenizerJSON: readFile(file), config: TokenizerConfig(config: config, specialTokensMap: map))
        }
    }

    /// A SentencePiece model converted as `LlamaTokenizerFast` does, with its defaults for what
    /// tokenizer_config.json leaves out (BOS added, `legacy` and `add_prefix_space` true).
    convenience init(sentencePieceModel data: Data, config: JSONObject?, specialTokensMap: JSONObject?) throws {
        let settings = TokenizerConfig(config: config, specialTokensMap: specialTokensMap, defaults: TokenizerConfig.llamaDefaults)
        if let name = settings.tokenizerClass, !["LlamaTokenizer", "LlamaTokenizerFast"].contains(name) {
            throw TokenizerError.unsupported(component: "class for a tokenizer.model without tokenizer.json", type: name)
        }
        let model = try SentencePieceModel(bytes: [UInt8](data))
        let document = try SentencePieceConverter.llama(model, legacy: settings.legacy ?? true,
                                                        addPrefixSpace: settings.addPrefixSpace ?? true)
        try self.init(json: document, config: settings)
    }

    /// Builds from tokenizer.json contents; `config` carries tokenizer_config.json settings.
    public convenience init(tokenizerJSON data: Data) throws {
        try self.init(tokenizerJSON: data, config: TokenizerConfig())
    }

    convenience init(tokenizerJSON data: Data, config: TokenizerConfig) throws {
        try self.init(json: JSONAccess.parse(data, what: "tokenizer.json"), config: config)
    }

    init(json: JSONObject, config: TokenizerConfig) throws {
        let modelJSON = try json.object("model", in: "tokenizer.json")
        let modelType = modelJSON["type"]?.stringValue ?? (modelJSON["merges"] != nil ? "BPE" : "unknown")
        guard modelType == "BPE" else { throw TokenizerError.unsupported(component: "model", type: modelType) }
        let bpe = try BPEModel(modelJSON)
        model = bpe

        normalizer = try Self.optional(json["normalizer"], "normalizer", makeNormalizer)
        preTokenizer = try Self.optional(json["pre_tokenizer"], "pre_tokenizer", makePreTokenizer)
        decoder = try Self.optional(json["decoder"], "decoder", makeDecoder)

        var added: [AddedToken] = []
        if let list = json["added_tokens"], !list.isNull {
            guard list.arrayValue != nil else { throw TokenizerError.malformedJSON("added_tokens is not a list") }
            added = try json.objects("added_tokens", in: "added_tokens").map { object in
                var token = try AddedToken(object)
                // HF re-adds these on load: content already in the model vocabulary keeps the
                // model's id, whatever the JSON says.
                if let modelId = bpe.tokenToIdMap[token.content] { token.id = modelId }
                return token
            }
        }
        // transformers also registers the config's special tokens (and added_tokens_decoder)
        // as added tokens, so a literal "<unk>" in text becomes the unk id; do the same.
        var contents = Set(added.map(\.content))
        for token in config.addedTokens where !contents.contains(token.content) {
            added.append(token)
            contents.insert(token.content)
        }
        for string in config.specialTokenStrings {
            let content = string.scalarValues
            guard !content.isEmpty, !contents.contains(content), let id = bpe.tokenToIdMap[content] else { continue }
            added.append(AddedToken(id: id, content: content, special: true, normalized: false))
            contents.insert(content)
        }
        var byId: [Int32: AddedToken] = [:]
        var byContent: [[UInt32]: Int32] = [:]
        var rawPatterns: [(pattern: [UInt32], token: Int)] = []
        var normalizedPatterns: [(pattern: [UInt32], token: Int)] = []
        for (index, token) in added.enumerated() {
            byId[token.id] = token
            byContent[token.content] = token.id
            if token.normalized {
                // HF matches normalized added tokens in their normalized form.
                var text = NormalizedText(original: token.content, range: 0..<token.content.count)
                normalizer?.normalize(&text)
                normalizedPatterns.append((text.scalars, index))
            } else {
                rawPatterns.append((token.content, index))
            }
        }
        addedById = byId
        addedByContent = byContent
        specialIds = Set(added.filter(\.special).map(\.id))
        rawMatcher = AddedTokenMatcher(tokens: added, patterns: rawPatterns)
        normalizedMatcher = AddedTokenMatcher(tokens: added, patterns: normalizedPatterns)

        let maxModelId = bpe.idToTokenMap.keys.max() ?? -1
        let maxAddedId = added.map(\.id).max() ?? -1
        vocabSize = Int(max(maxModelId, maxAddedId)) + 1

        let tokenString: (Int32) -> [UInt32]? = { id in byId[id]?.content ?? bpe.idToTokenMap[id] }
        var post = try Self.optional(json["post_processor"], "post_processor") {
            try makePostProcessor($0, vocabSize: Int(max(maxModelId, maxAddedId)) + 1, tokenString: tokenString)
        }

        func lookup(_ token: String?) -> Int? {
            guard let token else { return nil }
            let key = token.scalarValues
            if let id = byContent[key] ?? bpe.tokenToIdMap[key] { return Int(id) }
            return nil
        }
        cleanUpTokenizationSpaces = config.cleanUpTokenizationSpaces
        modelMaxLength = config.modelMaxLength
        bosToken = config.bosToken
        eosToken = config.eosToken
        padToken = config.padToken
        unkToken = config.unkToken ?? modelJSON["unk_token"]?.stringValue
        bosTokenId = lookup(bosToken)
        eosTokenId = lookup(eosToken)
        padTokenId = lookup(padToken)
        unkTokenId = lookup(unkToken)

        // transformers rebuilds the template from add_bos_token / add_eos_token when the
        // tokenizer config sets them; follow it so ids match what a user of AutoTokenizer gets.
        if config.addBosToken != nil || config.addEosToken != nil {
            let addBos = config.addBosToken ?? false, addEos = config.addEosToken ?? false
            var pieces: [TemplateProcessing.Piece] = []
            if addBos {
                guard let id = bosTokenId else { throw TokenizerError.invalidValue("add_bos_token is set but bos_token is missing or unknown") }
                pieces.append(.special([Int32(id)]))
            }
            pieces.append(.sequence)
            if addEos {
                guard let id = eosTokenId else { throw TokenizerError.invalidValue("add_eos_token is set but eos_token is missing or unknown") }
                pieces.append(.special([Int32(id)]))
            }
            let template = TemplateProcessing(single: pieces)
            switch post {
            case nil, is TemplateProcessing: post = template
            default: if addBos || addEos { post = SequencePostProcessor(steps: [post!, template]) }
            }
        }
        postProcessor = post
    }

    private static func optional<T>(_ value: JSONValue?, _ name: String, _ make: (JSONObject) throws -> T) throws -> T? {
        guard let value, !value.isNull else { return nil }
        guard let object = value.objectValue else { throw TokenizerError.malformedJSON("\(name) is not an object") }
        return try make(object)
    }

    // MARK: Encoding

    /// Token ids of `text`; `addSpecialTokens` applies the post-processor template (e.g. BOS).
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        encodeRaw(text, addSpecialTokens: addSpecialTokens).map { Int($0.id) }
    }

    /// Ids plus unicode-scalar offsets (see `Encoding`).
    public func encodeWithOffsets(_ text: String, addSpecialTokens: Bool = true) -> Encoding {
        let raw = encodeRaw(text, addSpecialTokens: addSpecialTokens)
        return Encoding(ids: raw.map { Int($0.id) },
                        offsets: raw.map { TokenOffset(start: Int($0.start), end: Int($0.end)) })
    }

    /// HF's pipeline: split on raw added tokens, normalize each remaining segment, split on
    /// normalized added tokens, pre-tokenize, run the model, post-process.
    private func encodeRaw(_ text: String, addSpecialTokens: Bool) -> [RawToken] {
        var original: [UInt32] = []
        original.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars { original.append(scalar.value) }

        var tokens: [RawToken] = []
        tokens.reserveCapacity(original.count / 3 + 4)
        var words: [NormalizedText] = []
        for (range, addedId) in rawMatcher.split(original) {
            if let id = addedId {
                let (leading, trailing) = ByteLevelPostProcessor.spaceCounts(original[range])
                tokens.append(RawToken(id: id, start: Int32(range.lowerBound), end: Int32(range.upperBound),
                                       leadingSpaces: Int16(clamping: leading), trailingSpaces: Int16(clamping: trailing)))
                continue
            }
            var segment = NormalizedText(original: original, range: range)
            normalizer?.normalize(&segment)
            for (inner, innerId) in normalizedMatcher.split(segment.scalars) {
                if let id = innerId {
                    let span = segment.originalRange(inner)
                    let (leading, trailing) = ByteLevelPostProcessor.spaceCounts(segment.scalars[inner])
                    tokens.append(RawToken(id: id, start: span.start, end: span.end,
                                           leadingSpaces: Int16(clamping: leading), trailingSpaces: Int16(clamping: trailing)))
                    continue
                }
                let piece = inner == 0..<segment.count ? segment : segment.slice(inner)
                if let byteLevel = preTokenizer as? ByteLevelPreTokenizer {
                    byteLevel.forEachWord(piece) { model.tokenize($0, into: &tokens) }
                } else if let preTokenizer {
                    words.removeAll(keepingCapacity: true)
                    preTokenizer.preTokenize(piece, into: &words)
                    for word in words { model.tokenize(word, into: &tokens) }
                } else {
                    model.tokenize(piece, into: &tokens)
                }
            }
        }
        return postProcessor?.process(tokens, addSpecialTokens: addSpecialTokens) ?? tokens
    }

    // MARK: Decoding

    /// Text for `ids`. Unknown ids are skipped (as HF does); with `skipSpecialTokens`, added
    /// tokens flagged `special` are left out. `cleanUpTokenizationSpaces` applies transformers'
    /// English clean-up (" ." -> ".", " n't" -> "n't", ...) after decoding; HF `tokenizers`
    /// never does, transformers does when the config says so (see `cleanUpTokenizationSpaces`).
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false, cleanUpTokenizationSpaces: Bool = false) -> String {
        var scalars = decodeScalars(ids, skipSpecialTokens: skipSpecialTokens)
        if cleanUpTokenizationSpaces {
            // transformers' `clean_up_tokenization`: these replacements, in this order.
            for (pattern, content) in Self.cleanUpRules {
                let text = NormalizedText(scalars: scalars, align: [Alignment](repeating: Alignment(start: 0, end: 0), count: scalars.count))
                scalars = replaceAll(text, pattern: pattern, content: content).scalars
            }
        }
        return String(scalarValues: scalars)
    }

    private static let cleanUpRules: [([UInt32], [UInt32])] = [
        (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
        (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
    ].map { ($0.0.scalarValues, $0.1.scalarValues) }

    func decodeScalars(_ ids: [Int], skipSpecialTokens: Bool) -> [UInt32] {
        var tokens: [[UInt32]] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            guard id >= 0, id < Int(Int32.max) else { continue }
            let id32 = Int32(id)
            if skipSpecialTokens && specialIds.contains(id32) { continue }
            if let token = addedById[id32]?.content ?? model.idToTokenMap[id32] { tokens.append(token) }
        }
        guard let decoder else { return Array(tokens.joined(separator: [0x20])) }
        return Array(decoder.decodeChain(tokens).joined())
    }

    /// A decoder for streaming generation that only ever emits whole characters.
    public func streamingDecoder(skipSpecialTokens: Bool = false) -> StreamingDecoder {
        StreamingDecoder(tokenizer: self, skipSpecialTokens: skipSpecialTokens)
    }

    // MARK: Vocabulary

    public func idToToken(_ id: Int) -> String? {
        guard id >= 0, id < Int(Int32.max) else { return nil }
        return (addedById[Int32(id)]?.content ?? model.idToTokenMap[Int32(id)]).map { String(scalarValues: $0) }
    }

    public func tokenToId(_ token: String) -> Int? {
        let key = token.scalarValues
        return (addedByContent[key] ?? model.tokenToIdMap[key]).map { Int($0) }
    }

    /// Whether `id` is an added token flagged `special` (skipped by `skipSpecialTokens`).
    public func isSpecialToken(_ id: Int) -> Bool {
        id >= 0 && id < Int(Int32.max) && specialIds.contains(Int32(id))
    }
}
