import Foundation

/// The parts of `tokenizer_config.json` / `special_tokens_map.json` the runtime uses.
struct TokenizerConfig {
    var addBosToken: Bool?
    var addEosToken: Bool?
    var bosToken: String?
    var eosToken: String?
    var padToken: String?
    var unkToken: String?

    init() {}

    /// `tokenizer_config.json` wins; `special_tokens_map.json` fills what it leaves out.
    init(config: JSONObject?, specialTokensMap: JSONObject?) {
        let sources = [config, specialTokensMap].compactMap { $0 }
        func token(_ key: String) -> String? {
            for source in sources {
                if let s = source[key] as? String { return s }
                if let object = source[key] as? JSONObject, let s = object["content"] as? String { return s }
            }
            return nil
        }
        addBosToken = config.flatMap { JSONAccess.bool($0["add_bos_token"]) }
        addEosToken = config.flatMap { JSONAccess.bool($0["add_eos_token"]) }
        bosToken = token("bos_token")
        eosToken = token("eos_token")
        padToken = token("pad_token")
        unkToken = token("unk_token")
    }

    static func load(_ url: URL) throws -> JSONObject? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw TokenizerError.fileNotFound(url.path) }
        return try JSONAccess.parse(data, what: url.lastPathComponent)
    }
}
