import Foundation
import JSON

/// The part of a folder's `generation_config.json` polycom honours: its end-of-sequence ids.
/// transformers' `generate` and vLLM stop on them; they may add ids config.json does not list
/// (Llama 3 instruct models end turns with <|eot_id|> this way).
public struct GenerationConfig: Sendable, Equatable {
    /// `eos_token_id`: one id or a list.
    public var eosTokenIds: [Int]

    public init(eosTokenIds: [Int] = []) {
        self.eosTokenIds = eosTokenIds
    }

    /// The folder's generation_config.json; nil when there is none.
    public static func load(folder: String) throws -> GenerationConfig? {
        let path = folder + "/generation_config.json"
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError.io(path: path, reason: "cannot read generation_config.json")
        }
        return try decode([UInt8](data), path: path)
    }

    public static func decode(_ bytes: [UInt8], path: String = "generation_config.json") throws -> GenerationConfig {
        let json: JSONValue
        do { json = try JSONValue.parse(bytes, rejectDuplicates: false) } catch {
            throw CheckpointError.invalidConfig(path: path, reason: "\(error)")  // "invalid JSON at line …"
        }
        guard let object = json.objectValue else { throw CheckpointError.invalidConfig(path: path, reason: "not a JSON object") }
        switch object["eos_token_id"] {
        case nil, .null?:
            return GenerationConfig()
        case let value?:
            let ids = value.intValue.map { [$0] } ?? value.arrayValue?.compactMap(\.intValue)
            guard let ids, ids.count == (value.arrayValue?.count ?? 1), ids.allSatisfy({ $0 >= 0 }) else {
                throw CheckpointError.invalidConfig(path: path, reason: "eos_token_id must be a token id or a list of them")
            }
            return GenerationConfig(eosTokenIds: ids)
        }
    }
}

/// The ids that end a generated sequence: config.json's `eos_token_id`, generation_config.json's
/// and the tokenizer's EOS token, together (vLLM stops on all three). `polycom generate`, the
/// server, and evaluation when it generates all take their stop set from here.
public func stopTokenIds(config: ModelConfig, generationConfig: GenerationConfig?, tokenizerEOS: Int?) -> Set<Int> {
    Set(config.eosTokenIds + (generationConfig?.eosTokenIds ?? []) + (tokenizerEOS.map { [$0] } ?? []))
}
