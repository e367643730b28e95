import HTTP
import JSON
import Tokenizer

/// `/tokenize`, `/detokenize` and `/tokenizer_info` (vLLM's shapes).
struct TokenizerEndpoints {
    let service: InferenceService

    func tokenize(_ request: HTTPRequest) throws -> HTTPResponse {
        let f = try RequestFields(request.body)
        guard let prompt = try f.string("prompt") else { throw APIError.badRequest("'prompt' must be a string", param: "prompt") }
        if let model = f["model"], model.stringValue != service.modelId {
            throw APIError.notFound("the model '\(model.stringValue ?? model.serialized())' does not exist")
        }
        let ids = service.tokenizer.encode(prompt, addSpecialTokens: try f.bool("add_special_tokens", default: true))
        var out: JSONObject = JSONObject([("tokens", .array(ids.map { .int($0) })), ("count", .int(ids.count)),
                                          ("max_model_len", .int(service.maxModelLength))])
        if try f.bool("return_token_strs", default: false) {
            out["token_strs"] = .array(ids.map { .string(service.tokenizer.idToToken($0) ?? "") })
        }
        return jsonResponse(.object(out))
    }

    func detokenize(_ request: HTTPRequest) throws -> HTTPResponse {
        let f = try RequestFields(request.body)
        guard let ids = try f.ints("tokens") else { throw APIError.badRequest("'tokens' must be a list of integers", param: "tokens") }
        if let bad = ids.first(where: { $0 < 0 || $0 >= service.tokenizer.vocabSize }) {
            throw APIError.badRequest("token id \(bad) is outside the vocabulary", param: "tokens")
        }
        return jsonResponse(["prompt": .string(service.tokenizer.decode(ids))])
    }

    func info(_ request: HTTPRequest) throws -> HTTPResponse {
        let t = service.tokenizer
        func token(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        return jsonResponse([
            "tokenizer_class": "PreTrainedTokenizerFast",
            "eos_token": token(t.eosToken), "bos_token": token(t.bosToken), "pad_token": token(t.padToken),
            "unk_token": token(t.unkToken),
            "eos_token_id": t.eosTokenId.map { .int($0) } ?? .null, "bos_token_id": t.bosTokenId.map { .int($0) } ?? .null,
            "pad_token_id": t.padTokenId.map { .int($0) } ?? .null,
            "vocab_size": .int(t.vocabSize), "model_max_length": .int(service.maxModelLength),
        ])
    }
}
