import Foundation

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

    init() {}

    /// Special-token strings transformers registers as special added tokens.
    var specialTokenStrings: [String] {
        [bosToken, eosToken, unkToken, padToken].compactMap { $0 } + additionalSpecialTokens
    }

    /// `tokenizer_config.json` wins; `special_tokens_map.json` fills what it leaves out.
    init(config: OrderedJSONObject?, specialTokensMap: OrderedJSONObject?) {
        let sources = [config, specialTokensMap].compactMap { $0 }
        func token(_ key: String) -> String? {
            for source in sources {
                if let s = source[key] as? String { return s }
                if let object = source[key] as? OrderedJSONObject, let s = object["content"] as? String { return s }
            }
            return nil
        }
        addBosToken = config.flatMap { JSONAccess.bool($0["add_bos_token"]) }
        addEosToken = config.flatMap { JSONAccess.bool($0["add_eos_token"]) }
        cleanUpTokenizationSpaces = config.flatMap { JSONAccess.bool($0["clean_up_tokenization_spaces"]) } ?? false
        bosToken = token("bos_token")
        eosToken = token("eos_token")
        padToken = token("pad_token")
        unkToken = token("unk_token")
        for source in sources {
            guard let list = source["additional_special_tokens"] as? [Any] else { continue }
            additionalSpecialTokens = list.compactMap { ($0 as? String) ?? (($0 as? OrderedJSONObject)?["content"] as? String) }
            break
        }
        if let decoder = config?["added_tokens_decoder"] as? OrderedJSONObject {
            for (key, value) in decoder.pairs {
                guard let id = Int32(key), var entry = value as? OrderedJSONObject else { continue }
                entry.set("id", Int(id))
                if let token = try? AddedToken(entry) { addedTokens.append(token) }
            }
        }
    }

    static func load(_ url: URL) throws -> OrderedJSONObject? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw TokenizerError.fileNotFound(url.path) }
        return try JSONAccess.parse(data, what: url.lastPathComponent)
    }
}
