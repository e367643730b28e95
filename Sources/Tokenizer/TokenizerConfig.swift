import Foundation
import JSON

/// The parts of `tokenizer_config.json` / `special_tokens_map.json` the runtime uses.
struct TokenizerConfig {
    var addBosToken: Bool?
    var addEosToken: Bool?
    /// transformers' `clean_up_tokenization_spaces` (a decode-time option there).
    var cleanUpTokenizationSpaces = false
    var bosToken: String?
    var eosToken: String?
    var padToken: String?
    var unkToken: String?
    /// `additional_special_tokens`.
    var additionalSpecialTokens: [String] = []
    /// `added_tokens_decoder` entries (with their ids), as transformers ≥ 4.34 writes them.
    var addedTokens: [AddedToken] = []
    /// `tokenizer_class`, e.g. "LlamaTokenizer".
    var tokenizerClass: String?
    /// `legacy` and `add_prefix_space`: how a SentencePiece tokenizer.model is converted
    /// (nil: not in the file, transformers' defaults apply).
    var legacy: Bool?
    var addPrefixSpace: Bool?
    /// `model_max_length`; nil when absent or "unlimited": transformers writes int(1e30), past
    /// Int's range, when no length was set.
    var modelMaxLength: Int?

    init() {}

    /// Special-token strings transformers registers as special added tokens.
    var specialTokenStrings: [String] {
        [bosToken, eosToken, unkToken, padToken].compactMap { $0 } + additionalSpecialTokens
    }

    /// As transformers reads them: `special_tokens_map.json` only counts for configs without
    /// `added_tokens_decoder` (written before 4.34), and then its entries override the
    /// config's. A token given as `null` is unset (`"pad_token": null`: no pad token).
    /// `defaults` are the tokenizer class's constructor defaults, for keys neither file has.
    init(config: JSONObject?, specialTokensMap: JSONObject?, defaults: JSONObject? = nil) {
        let files = (config?["added_tokens_decoder"] == nil ? [specialTokensMap, config] : [config]).compactMap { $0 }
        func value(_ key: String, in sources: [JSONObject?]) -> JSONValue? {
            sources.lazy.compactMap { $0?[key] }.first
        }
        func token(_ key: String) -> String? {
            guard let v = value(key, in: files + [defaults]) else { return nil }
            return v.stringValue ?? v["content"]?.stringValue
        }
        addBosToken = value("add_bos_token", in: [config, defaults])?.boolValue
        addEosToken = value("add_eos_token", in: [config, defaults])?.boolValue
        cleanUpTokenizationSpaces = config?["clean_up_tokenization_spaces"]?.boolValue ?? false
        bosToken = token("bos_token")
        eosToken = token("eos_token")
        padToken = token("pad_token")
        unkToken = token("unk_token")
        tokenizerClass = config?["tokenizer_class"]?.stringValue
        legacy = config?["legacy"]?.boolValue
        addPrefixSpace = config?["add_prefix_space"]?.boolValue
        modelMaxLength = config?["model_max_length"]?.intValue.flatMap { $0 > 0 ? $0 : nil }
        for source in files {
            guard let list = source["additional_special_tokens"]?.arrayValue else { continue }
            additionalSpecialTokens = list.compactMap { $0.stringValue ?? $0["content"]?.stringValue }
            break
        }
        if let decoder = config?["added_tokens_decoder"]?.objectValue {
            for (key, value) in decoder.entries {
                guard let id = Int32(key), var entry = value.objectValue else { continue }
                entry["id"] = .int(Int(id))
                if let token = try? AddedToken(entry) { addedTokens.append(token) }
            }
        }
    }

    /// `LlamaTokenizerFast.__init__`'s defaults (transformers 4.57).
    static let llamaDefaults: JSONObject = [
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": true, "add_eos_token": false,
    ]

    /// The file's object, or nil when there is no such file.
    static func load(_ url: URL) throws -> JSONObject? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try JSONAccess.parse(readFile(url), what: url.lastPathComponent)
    }
}
