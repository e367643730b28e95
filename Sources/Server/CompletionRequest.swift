import Engine
import JSON
import Tokenizer

/// A validated `POST /v1/completions` body.
struct CompletionRequest {
    var prompts: [[Int]]
    /// The prompt as the client wrote it, when it was text (echo returns it verbatim).
    var promptTexts: [String?]
    var params: SamplingParams
    var n: Int
    var echo: Bool
    var stream: Bool
    var includeUsage: Bool
    var stops: [String]
    var logprobs: Int?

    init(_ f: RequestFields, tokenizer: Tokenizer, servedModel: String, maxModelLength: Int) throws {
        if let model = f["model"] {
            guard let name = model.stringValue else { throw APIError.badRequest("'model' must be a string", param: "model") }
            guard name == servedModel else { throw APIError.notFound("the model '\(name)' does not exist; this server serves '\(servedModel)'") }
        }
        guard let prompt = f["prompt"] else { throw APIError.badRequest("'prompt' is required", param: "prompt") }
        (prompts, promptTexts) = try Self.prompts(prompt, tokenizer: tokenizer)
        n = try f.int("n", in: 1...64) ?? 1
        echo = try f.bool("echo", default: false)
        stream = try f.bool("stream", default: false)
        includeUsage = try f["stream_options"]?["include_usage"].map {
            guard let b = $0.boolValue else { throw APIError.badRequest("'stream_options.include_usage' must be a boolean") }
            return b
        } ?? false
        logprobs = try f.int("logprobs", in: 0...20)
        stops = try f.strings("stop")
        if stops.count > 16 { throw APIError.badRequest("at most 16 stop strings", param: "stop") }

        var p = SamplingParams()
        let requestedMax = try f.int("max_tokens", in: 0...Int(Int32.max))
        p.temperature = Float(try f.number("temperature", in: 0...100) ?? 1)
        p.topP = Float(try f.number("top_p", in: 0...1) ?? 1)
        if p.topP <= 0 { throw APIError.badRequest("'top_p' must be in (0, 1]", param: "top_p") }
        p.topK = try f.int("top_k", in: -1...Int(Int32.max)) ?? 0
        p.minP = Float(try f.number("min_p", in: 0...1) ?? 0)
        p.repetitionPenalty = Float(try f.number("repetition_penalty", in: 0.01...100) ?? 1)
        p.frequencyPenalty = Float(try f.number("frequency_penalty", in: -2...2) ?? 0)
        p.presencePenalty = Float(try f.number("presence_penalty", in: -2...2) ?? 0)
        p.ignoreEOS = try f.bool("ignore_eos", default: false)
        if let seed = try f.int("seed") { p.seed = UInt64(bitPattern: Int64(seed)) }
        p.stopTokenIds = Set(try f.ints("stop_token_ids") ?? [])
        p.logprobs = logprobs
        if requestedMax == 0 && !echo { throw APIError.badRequest("'max_tokens' must be at least 1 unless 'echo' is set", param: "max_tokens") }
        let longest = prompts.map(\.count).max() ?? 0
        if longest > maxModelLength {
            throw APIError.badRequest("this model's maximum context length is \(maxModelLength) tokens, but the prompt has \(longest) tokens", param: "prompt")
        }
        // Generation stops at the context length (finish_reason "length") rather than
        // refusing a max_tokens that would run past it, as llama.cpp's server does; without
        // max_tokens (null) it runs to the context length, as vLLM does.
        p.maxTokens = requestedMax ?? (f.object["max_tokens"]?.isNull == true ? maxModelLength - longest : 16)
        p.maxTokens = min(p.maxTokens, maxModelLength - longest)
        if p.maxTokens == 0 && !echo {
            throw APIError.badRequest("the prompt fills the model's whole context (\(maxModelLength) tokens); nothing can be generated", param: "prompt")
        }
        params = p
    }

    /// `prompt` as a string, a list of strings, a list of ids, or a list of id lists.
    static func prompts(_ value: JSONValue, tokenizer: Tokenizer) throws -> ([[Int]], [String?]) {
        func ids(_ list: [JSONValue]) throws -> [Int] {
            try list.map { v in
                guard let i = v.intValue else { throw APIError.badRequest("'prompt' token ids must be integers", param: "prompt") }
                guard i >= 0 else { throw APIError.badRequest("token id \(i) is negative", param: "prompt") }
                return i
            }
        }
        var prompts: [[Int]] = [], texts: [String?] = []
        switch value {
        case .string(let s):
            prompts = [tokenizer.encode(s)]
            texts = [s]
        case .array(let items) where items.isEmpty:
            throw APIError.badRequest("'prompt' must not be empty", param: "prompt")
        case .array(let items) where items.allSatisfy({ $0.stringValue != nil }):
            for item in items {
                prompts.append(tokenizer.encode(item.stringValue!))
                texts.append(item.stringValue!)
            }
        case .array(let items) where items.allSatisfy({ $0.intValue != nil }):
            prompts = [try ids(items)]
            texts = [nil]
        case .array(let items) where items.allSatisfy({ $0.arrayValue != nil }):
            prompts = try items.map { try ids($0.arrayValue!) }
            texts = Array(repeating: nil, count: prompts.count)
        default:
            throw APIError.badRequest("'prompt' must be a string, a list of strings, a list of token ids or a list of token-id lists", param: "prompt")
        }
        if prompts.contains(where: \.isEmpty) { throw APIError.badRequest("a prompt encodes to no tokens", param: "prompt") }
        return (prompts, texts)
    }
}
