/// How one sequence picks its tokens and when it stops (vLLM's SamplingParams, token level).
public struct SamplingParams: Sendable, Equatable {
    public var maxTokens: Int = 16
    /// 0 is greedy.
    public var temperature: Float = 1
    /// 0 or less: no top-k cut.
    public var topK: Int = 0
    public var topP: Float = 1
    public var minP: Float = 0
    /// > 1 discourages tokens already in the prompt or output (divides positive logits).
    public var repetitionPenalty: Float = 1
    /// Subtracted once per occurrence of a token in the output.
    public var frequencyPenalty: Float = 0
    /// Subtracted once if a token occurs in the output.
    public var presencePenalty: Float = 0
    /// Added to a token's logit before the penalties and the draw (OpenAI's `logit_bias`;
    /// -100 bans a token in practice, +100 all but forces it). Log-probs reported with the
    /// tokens stay those of the model, as vLLM's default (`raw_logprobs`) reports them.
    public var logitBias: [Int: Float] = [:]
    /// Same seed and same request ⇒ same tokens, whatever else is running.
    public var seed: UInt64?
    public var stopTokenIds: Set<Int> = []
    public var ignoreEOS = false
    /// Top alternatives to report with each generated token (nil: no log-probs).
    public var logprobs: Int?

    public init() {}

    public var isGreedy: Bool { temperature <= 0 }
}

/// Why a sequence ended (OpenAI's finish_reason strings).
public enum FinishReason: String, Sendable {
    case stop, length, cancelled = "abort"
}
