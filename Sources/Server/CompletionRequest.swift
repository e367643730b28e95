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
    /// Sequences generated per prompt; the `n` with the highest cumulative log-prob are returned.
    var bestOf: Int
    var echo: Bool
    var stream: Bool
    var includeUsage: Bool
    var stops: [String]
    var includeStopString: Bool
    /// Special tokens (EOS) are left out of the generated text. vLLM's default is true;
    /// ours is false, as `polycom generate` prints the EOS it stopped on.
    var skipSpecialTokens: Bool
    var logprobs: Int?

    /// What the engine allows one request: its sequences (prompts × best_of) must fit the
    /// queue at once, each prompt its context.
    struct Limits {
        var maxSequences: Int
        var maxModelLength: Int
        var vocabSize: Int
        /// The server's own bounds (`ServerOptions`), tighter than the model's if set so.
        var maxPromptTokens: Int? = nil
        var maxGeneratedTokens = Int.max
        var maxLogprobs = 20
    }

    /// Checked on the body's census, before it is parsed: a body of 1.6 M one-token prompts
    /// is refused having cost its bytes, not the 400 MB its parse would take.
    static func bodyLimits(_ l: Limits) -> BodyLimits {
        var b = BodyLimits()
        let promptValues = l.maxSequences * (l.maxModelLength + 1)
        b.fields = ["prompt": promptValues, "logit_bias": l.vocabSize, "stop_token_ids": l.vocabSize]
        b.check = { census in
            let entries = census["prompt"].elements
            if entries > max(l.maxSequences, l.maxModelLength) {
                // A list of ids or a list of prompts: the message has to fit both.
                throw APIError.badRequest("'prompt' is a list of \(entries) entries, more than both this model's maximum context length "
                                          + "(\(l.maxModelLength) tokens) and the prompts one request may hold (\(l.maxSequences), "
                                          + "the server's --max-queue)", param: "prompt")
            }
        }
        return b
    }

    /// Fields of OpenAI's and vLLM's completion schemas this server does not implement,
    /// with the values that mean "off": any other value is refused, never ignored.
    static let unimplemented: [(name: String, off: [JSONValue])] = [
        ("suffix", [""]), ("use_beam_search", [false]), ("length_penalty", [1]), ("early_stopping", [false]),
        ("min_tokens", [0]), ("prompt_logprobs", []), ("truncate_prompt_tokens", []), ("allowed_token_ids", []),
        ("bad_words", [[]]), ("guided_json", []), ("guided_regex", []), ("guided_choice", []), ("guided_grammar", []),
        ("guided_decoding_backend", []), ("guided_whitespace_pattern", []), ("response_format", []), ("structured_outputs", []),
        ("logits_processors", []), ("return_tokens_as_token_ids", [false]), ("prompt_embeds", []), ("priority", [0]),
        ("kv_transfer_params", []), ("vllm_xargs", []),
    ]

    /// The body's census checked against `bodyLimits(limits)`, then parsed and validated.
    init(body: [UInt8], tokenizer: Tokenizer, servedModel: String, limits: Limits) throws {
        try self.init(RequestFields(body, limits: Self.bodyLimits(limits)), tokenizer: tokenizer, servedModel: servedModel, limits: limits)
    }

    init(_ f: RequestFields, tokenizer: Tokenizer, servedModel: String, limits: Limits) throws {
        let maxModelLength = limits.maxModelLength
        if let model = f["model"] {
            guard let name = model.stringValue else { throw APIError.badRequest("'model' must be a string", param: "model") }
            guard name == servedModel else { throw APIError.notFound("the model '\(name)' does not exist; this server serves '\(servedModel)'") }
        }
        for (name, off) in Self.unimplemented {
            guard let v = f[name], !off.contains(where: { $0 == v || ($0.doubleValue != nil && $0.doubleValue == v.doubleValue) }) else { continue }
            throw APIError.badRequest("'\(name)' is not supported by this server", param: name)
        }
        guard let prompt = f["prompt"] else { throw APIError.badRequest("'prompt' is required", param: "prompt") }
        (prompts, promptTexts) = try Self.prompts(prompt, tokenizer: tokenizer,
                                                  addSpecialTokens: try f.bool("add_special_tokens", default: true))
        n = try f.int("n", in: 1...64) ?? 1
        bestOf = try f.int("best_of", in: 1...64) ?? n
        if bestOf < n { throw APIError.badRequest("'best_of' (\(bestOf)) must be at least 'n' (\(n))", param: "best_of") }
        echo = try f.bool("echo", default: false)
        stream = try f.bool("stream", default: false)
        if stream && bestOf > n {
            throw APIError.badRequest("'best_of' greater than 'n' cannot be streamed: the best sequences are known only at the end",
                                      param: "best_of")
        }
        if prompts.count * bestOf > limits.maxSequences {
            throw APIError.badRequest("the request asks for \(prompts.count * bestOf) sequences (\(prompts.count) prompts × "
                                      + "\(bestOf == n ? "n" : "best_of") \(bestOf)); the server takes at most \(limits.maxSequences) "
                                      + "in one request (--max-queue)", param: bestOf == n ? "n" : "best_of")
        }
        includeUsage = try f["stream_options"]?["include_usage"].map {
            guard let b = $0.boolValue else { throw APIError.badRequest("'stream_options.include_usage' must be a boolean") }
            return b
        } ?? false
        logprobs = try f.int("logprobs", in: 0...Int.max)
        if let logprobs, logprobs > limits.maxLogprobs {
            throw APIError.badRequest("'logprobs' is \(logprobs); the server returns at most \(limits.maxLogprobs) (--max-logprobs)", param: "logprobs")
        }
        stops = try f.strings("stop")
        if stops.count > 16 { throw APIError.badRequest("at most 16 stop strings", param: "stop") }
        includeStopString = try f.bool("include_stop_str_in_output", default: false)
        skipSpecialTokens = try f.bool("skip_special_tokens", default: false)

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
        p.logitBias = try Self.logitBias(f["logit_bias"], vocabSize: limits.vocabSize)
        p.ignoreEOS = try f.bool("ignore_eos", default: false)
        if let seed = try f.int("seed") { p.seed = UInt64(bitPattern: Int64(seed)) }
        let stopIds = try f.ints("stop_token_ids") ?? []
        if let bad = stopIds.first(where: { $0 < 0 || $0 >= limits.vocabSize }) {
            throw APIError.badRequest("stop token id \(bad) is outside the vocabulary (0..<\(limits.vocabSize))", param: "stop_token_ids")
        }
        p.stopTokenIds = Set(stopIds)
        // best_of ranks sequences by cumulative log-prob: they need their tokens' log-probs.
        p.logprobs = logprobs ?? (bestOf > n ? 0 : nil)
        if requestedMax == 0 && !echo { throw APIError.badRequest("'max_tokens' must be at least 1 unless 'echo' is set", param: "max_tokens") }
        let longest = prompts.map(\.count).max() ?? 0
        if let most = limits.maxPromptTokens, longest > most, most < maxModelLength {
            throw APIError.badRequest("the prompt has \(longest) tokens; the server accepts at most \(most) (--max-prompt-tokens)", param: "prompt")
        }
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
        let generated = prompts.count * bestOf * p.maxTokens
        if generated > limits.maxGeneratedTokens {
            throw APIError.badRequest("the request may generate \(generated) tokens (\(prompts.count) prompts × \(bestOf == n ? "n" : "best_of") "
                                      + "\(bestOf) × max_tokens \(p.maxTokens)); the server allows at most \(limits.maxGeneratedTokens) "
                                      + "in one request (--max-generated-tokens)", param: "max_tokens")
        }
        params = p
    }

    /// OpenAI's `logit_bias`: {"token id": bias in [-100, 100]}.
    static func logitBias(_ value: JSONValue?, vocabSize: Int) throws -> [Int: Float] {
        guard let value else { return [:] }
        guard let object = value.objectValue else {
            throw APIError.badRequest("'logit_bias' must be an object mapping token ids to biases", param: "logit_bias")
        }
        var bias: [Int: Float] = [:]
        for (key, v) in object.entries {
            guard let id = Int(key), id >= 0, id < vocabSize else {
                throw APIError.badRequest("'logit_bias' key '\(key)' is not a token id in 0..<\(vocabSize)", param: "logit_bias")
            }
            guard let b = v.doubleValue, b >= -100, b <= 100 else {
                throw APIError.badRequest("'logit_bias' of token \(id) must be a number in [-100, 100], got \(v.serialized())", param: "logit_bias")
            }
            bias[id] = Float(b)
        }
        return bias
    }

    /// `prompt` as a string, a list of strings, a list of ids, or a list of id lists.
    static func prompts(_ value: JSONValue, tokenizer: Tokenizer, addSpecialTokens: Bool = true) throws -> ([[Int]], [String?]) {
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
            prompts = [tokenizer.encode(s, addSpecialTokens: addSpecialTokens)]
            texts = [s]
        case .array(let items) where items.isEmpty:
            throw APIError.badRequest("'prompt' must not be empty", param: "prompt")
        case .array(let items) where items.allSatisfy({ $0.stringValue != nil }):
            for item in items {
                prompts.append(tokenizer.encode(item.stringValue!, addSpecialTokens: addSpecialTokens))
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
