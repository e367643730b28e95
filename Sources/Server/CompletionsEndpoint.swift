import Engine
import Foundation
import HTTP
import JSON
import Tokenizer

/// `POST /v1/completions`: OpenAI / vLLM text completions, streamed or not.
struct CompletionsEndpoint {
    let service: InferenceService

    /// One choice being produced: its sequence, text and log-prob lists.
    final class Choice {
        /// prompt × n + rank; with best_of, set once the best are known.
        var index: Int
        let promptIndex: Int
        let handle: SequenceHandle
        var text: ChoiceText
        var tokens: [Int] = []
        var records: [TokenLogprob?] = []
        var promptRecords: [TokenLogprob] = []
        var finishReason: String?
        /// vLLM's stop_reason: the stop string or stop token id that ended the choice
        /// (null for EOS, the length limit, and an abort).
        var stopReason: JSONValue = .null
        var failure: String?

        init(index: Int, promptIndex: Int, handle: SequenceHandle, text: ChoiceText) {
            (self.index, self.promptIndex, self.handle, self.text) = (index, promptIndex, handle, text)
        }
    }

    func handle(_ request: HTTPRequest) throws -> HTTPResponse {
        let engine = try service.readyEngine()
        let options = service.options
        let limits = CompletionRequest.Limits(maxSequences: engine.options.maxQueue, maxModelLength: engine.maxModelLength,
                                              vocabSize: engine.model.vocabSize, maxPromptTokens: options.maxPromptTokens,
                                              maxGeneratedTokens: options.maxGeneratedTokens, maxLogprobs: options.maxLogprobs)
        let body = try CompletionRequest(body: request.body, tokenizer: service.tokenizer, servedModel: service.modelId, limits: limits)
        let events = EventQueue()
        let choices = try submit(body, engine: engine, events: events)
        let id = "cmpl-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let created = Int(Date().timeIntervalSince1970)
        if body.stream {
            let stream = HTTPStream()
            stream.onCancel { _ in choices.forEach { $0.handle.cancel() } }
            Thread.detachNewThread {
                self.streamChoices(choices, events: events, body: body, eos: engine.eosTokenIds, id: id, created: created, into: stream)
            }
            return .serverSentEvents(stream)
        }
        // A plain answer waits for the result before its status goes out, so that a failed
        // sequence (weights lost mid-pass, say) is a 500, not a 200 carrying an error; a
        // client hanging up meanwhile still cancels its sequences.
        run(choices, events: events, body: body, eos: engine.eosTokenIds, clientGone: { request.isClientDisconnected }) { _, _ in }
        if let failure = choices.compactMap(\.failure).first { throw APIError.internalError(failure) }
        let best = best(choices, body: body)
        return jsonResponse(["id": .string(id), "object": "text_completion", "created": .int(created), "model": .string(service.modelId),
                             "choices": .array(best.map { choiceJSON($0, body: body) }), "usage": usage(choices, body: body)])
    }

    /// Queues every sequence of the request at once: all run, or none (429).
    private func submit(_ body: CompletionRequest, engine: Engine, events: EventQueue) throws -> [Choice] {
        var requests: [GenerationRequest] = []
        for prompt in body.prompts {
            for k in 0..<body.bestOf {
                var params = body.params
                if let seed = params.seed { params.seed = seed &+ UInt64(k) }
                let wantsPrompt = body.echo && body.logprobs != nil
                requests.append(GenerationRequest(prompt: prompt, params: params, promptLogprobsFrom: wantsPrompt ? 1 : nil,
                                                  promptTopK: body.logprobs ?? 0))
            }
        }
        let handles: [SequenceHandle]
        do { handles = try engine.submit(requests, events: events) } catch { throw service.apiError(error) }
        return handles.enumerated().map { i, handle in
            let p = i / body.bestOf
            return Choice(index: p * body.n + i % body.bestOf, promptIndex: p, handle: handle,
                          text: ChoiceText(tokenizer: service.tokenizer, prompt: body.prompts[p], stops: body.stops,
                                           includeStop: body.includeStopString, skipSpecialTokens: body.skipSpecialTokens))
        }
    }

    /// Of each prompt's best_of sequences, the n with the highest cumulative log-prob of
    /// their tokens, best first (vLLM's order), numbered prompt × n + rank.
    private func best(_ choices: [Choice], body: CompletionRequest) -> [Choice] {
        guard body.bestOf > body.n else { return choices }
        var kept: [Choice] = []
        for p in body.prompts.indices {
            let ranked = choices.filter { $0.promptIndex == p }.enumerated().sorted { a, b in
                let (x, y) = (cumulativeLogprob(a.element), cumulativeLogprob(b.element))
                return x != y ? x > y : a.offset < b.offset
            }
            for (rank, c) in ranked.prefix(body.n).enumerated() {
                c.element.index = p * body.n + rank
                kept.append(c.element)
            }
        }
        return kept
    }

    /// The log-probs of the tokens a choice kept (those up to a stop string).
    private func cumulativeLogprob(_ c: Choice) -> Double {
        c.records.prefix(c.text.tokenStrings.count).reduce(0.0) { $0 + Double($1?.logprob ?? 0) }
    }

    /// Consumes the choices' events from their shared queue until every choice has ended;
    /// `onChoice` runs after each token and once at the end of each choice (streaming
    /// writes there). `clientGone` is polled while waiting: true cancels every choice.
    private func run(_ choices: [Choice], events: EventQueue, body: CompletionRequest, eos: Set<Int>,
                     clientGone: () -> Bool = { false }, onChoice: (Choice, Bool) -> Void) {
        let byId = Dictionary(uniqueKeysWithValues: choices.map { ($0.handle.id, $0) })
        var open = choices.count
        let deadline = Date(timeIntervalSinceNow: 600)
        var nextLook = Date(), gone = false
        while open > 0 && Date() < deadline {
            // Looked at every 0.1 s, tokens arriving or not (a socket peek each time).
            if !gone && Date() >= nextLook {
                nextLook = Date(timeIntervalSinceNow: 0.1)
                if clientGone() {
                    gone = true
                    choices.forEach { $0.handle.cancel() }
                }
            }
            guard let (id, event) = events.next(timeout: 0.1) else { continue }
            guard let choice = byId[id] else { continue }
            switch event {
            case .promptLogprobs(let records):
                choice.promptRecords = records
            case .token(let token, let record):
                guard choice.finishReason == nil else { continue }
                choice.tokens.append(token)
                choice.records.append(record)
                if choice.text.append(token, alternatives: record?.top.map(\.token) ?? []) {
                    choice.finishReason = "stop"
                    choice.stopReason = choice.text.matchedStop.map { .string($0) } ?? .null
                    choice.handle.cancel()
                }
                onChoice(choice, false)
            case .finished(let reason):
                if choice.finishReason == nil {
                    choice.text.finish()
                    choice.finishReason = reason == .cancelled ? "abort" : reason.rawValue
                    if reason == .stop, let last = choice.tokens.last { choice.stopReason = stopReason(token: last, params: body.params, eos: eos) }
                }
                open -= 1
                onChoice(choice, true)
            case .failed(let message):
                choice.failure = message
                choice.finishReason = "abort"
                open -= 1
                onChoice(choice, true)
            }
        }
        if open > 0 {
            for c in choices where c.finishReason == nil {
                c.handle.cancel()
                c.failure = "timed out waiting for the model"
            }
        }
    }

    /// vLLM's stop_reason for a sequence the engine stopped: the stop token id, or null
    /// for EOS (checked first, as vLLM does).
    private func stopReason(token: Int, params: SamplingParams, eos: Set<Int>) -> JSONValue {
        if !params.ignoreEOS && eos.contains(token) { return .null }
        return params.stopTokenIds.contains(token) ? .int(token) : .null
    }

    private func streamChoices(_ choices: [Choice], events: EventQueue, body: CompletionRequest, eos: Set<Int>, id: String,
                               created: Int, into stream: HTTPStream) {
        func frame(_ choice: JSONValue) {
            let json: JSONValue = ["id": .string(id), "object": "text_completion", "created": .int(created),
                                   "model": .string(service.modelId), "choices": [choice]]
            _ = stream.writeEvent(data: json.serialized())
        }
        var streamedTokens: [ObjectIdentifier: Int] = [:]
        var echoed: Set<ObjectIdentifier> = []
        run(choices, events: events, body: body, eos: eos) { choice, done in
            // The echoed prompt (with its log-probs, which arrive before any token) first.
            if body.echo && echoed.insert(ObjectIdentifier(choice)).inserted {
                frame(["index": .int(choice.index), "text": .string(self.promptText(choice, body: body)),
                       "logprobs": body.logprobs == nil ? .null : self.promptLogprobsJSON(choice, body: body),
                       "finish_reason": .null, "stop_reason": .null])
            }
            let text = choice.text.takeStreamable(final: done)
            let from = streamedTokens[ObjectIdentifier(choice), default: 0]
            streamedTokens[ObjectIdentifier(choice)] = choice.tokens.count
            let logprobs: JSONValue = body.logprobs == nil ? .null : self.logprobsJSON(self.generatedRows(choice, from: from))
            if !text.isEmpty || (done && from < choice.tokens.count) || logprobs != .null && from < choice.tokens.count {
                frame(["index": .int(choice.index), "text": .string(text), "logprobs": logprobs, "finish_reason": .null,
                       "stop_reason": .null])
            }
            // The status went out with the first byte: a failure is told in the stream, as
            // vLLM does, before the choice's abort.
            if done, let failure = choice.failure { _ = stream.writeEvent(data: APIError.internalError(failure).json.serialized()) }
            if done {
                frame(["index": .int(choice.index), "text": "", "logprobs": .null,
                       "finish_reason": .string(choice.finishReason ?? "stop"), "stop_reason": choice.stopReason])
            }
        }
        if body.includeUsage {
            let json: JSONValue = ["id": .string(id), "object": "text_completion", "created": .int(created),
                                   "model": .string(service.modelId), "choices": [], "usage": usage(choices, body: body)]
            _ = stream.writeEvent(data: json.serialized())
        }
        _ = stream.writeEvent(data: "[DONE]")
        stream.finish()
    }

    private func promptText(_ c: Choice, body: CompletionRequest) -> String {
        body.promptTexts[c.promptIndex] ?? service.tokenizer.decode(body.prompts[c.promptIndex])
    }

    private func choiceJSON(_ c: Choice, body: CompletionRequest) -> JSONValue {
        var text = c.text.text
        var logprobs: JSONValue = .null
        if body.echo { text = promptText(c, body: body) + text }
        if body.logprobs != nil {
            var rows = generatedRows(c, from: 0)
            if body.echo { rows = promptRows(c, body: body) + rows }
            logprobs = logprobsJSON(rows)
        }
        return ["index": .int(c.index), "text": .string(text), "logprobs": logprobs,
                "finish_reason": .string(c.finishReason ?? "length"), "stop_reason": c.stopReason]
    }

    /// Per token: its text piece, its log-prob record and the pieces of its alternatives.
    struct LogprobRows {
        var strings: [String] = []
        var records: [TokenLogprob?] = []
        var alternatives: [[String?]] = []
        static func + (a: LogprobRows, b: LogprobRows) -> LogprobRows {
            LogprobRows(strings: a.strings + b.strings, records: a.records + b.records, alternatives: a.alternatives + b.alternatives)
        }
    }

    /// The generated tokens from `from` on (those a stop string cut off are gone).
    private func generatedRows(_ c: Choice, from: Int) -> LogprobRows {
        let kept = c.text.tokenStrings.count
        return LogprobRows(strings: Array(c.text.tokenStrings[from...]), records: Array(c.records[from..<kept]),
                           alternatives: Array(c.text.alternativeStrings[from...]))
    }

    /// The prompt's rows; the first token has no log-prob.
    private func promptRows(_ c: Choice, body: CompletionRequest) -> LogprobRows {
        let prompt = body.prompts[c.promptIndex]
        var decoder = service.tokenizer.streamingDecoder()
        var rows = LogprobRows()
        for (i, token) in prompt.enumerated() {
            let record = i == 0 ? nil : c.promptRecords[i - 1]
            rows.alternatives.append(ChoiceText.pieces(record?.top.map(\.token) ?? [], after: decoder))
            rows.strings.append(decoder.step(token) ?? "")
            rows.records.append(record)
        }
        return rows
    }

    private func promptLogprobsJSON(_ c: Choice, body: CompletionRequest) -> JSONValue {
        logprobsJSON(promptRows(c, body: body))
    }

    /// OpenAI's legacy log-probs: parallel lists. top_logprobs holds the chosen token under
    /// its own piece, with the very same float as token_logprobs, then the alternatives
    /// under the pieces they would have added in its place. An alternative that adds
    /// nothing yet (part of a character, a skipped special token), or whose piece another
    /// token already has, goes under its vocabulary string ("<0xE2>"), so there is one
    /// entry per token.
    private func logprobsJSON(_ rows: LogprobRows) -> JSONValue {
        var offsets: [JSONValue] = [], position = 0
        for s in rows.strings {
            offsets.append(.int(position))
            position += s.unicodeScalars.count
        }
        let tokenLogprobs: [JSONValue] = rows.records.map { r in r.map { .double(Double(clamped($0.logprob))) } ?? .null }
        let top: [JSONValue] = rows.records.indices.map { i in
            guard let r = rows.records[i] else { return .null }
            var o = JSONObject()
            o[rows.strings[i]] = .double(Double(clamped(r.logprob)))
            for (j, alt) in r.top.enumerated() where alt.token != r.token {
                let piece = j < rows.alternatives[i].count ? rows.alternatives[i][j] : nil
                var key = piece ?? ""
                if key.isEmpty || o[key] != nil { key = service.tokenizer.idToToken(alt.token) ?? "" }
                if key.isEmpty || o[key] != nil { key = "token_id:\(alt.token)" }
                o[key] = .double(Double(clamped(alt.logprob)))
            }
            return .object(o)
        }
        return ["tokens": .array(rows.strings.map { .string($0) }), "token_logprobs": .array(tokenLogprobs),
                "top_logprobs": .array(top), "text_offset": .array(offsets)]
    }

    private func usage(_ choices: [Choice], body: CompletionRequest) -> JSONValue {
        let prompt = body.prompts.reduce(0) { $0 + $1.count }
        let completion = choices.reduce(0) { $0 + $1.tokens.count }
        return ["prompt_tokens": .int(prompt), "completion_tokens": .int(completion), "total_tokens": .int(prompt + completion)]
    }
}

/// JSON cannot carry -Infinity: log-probs are clamped at -9999 (as vLLM).
func clamped(_ logprob: Float) -> Float { logprob.isNaN ? -9999 : max(logprob, -9999) }
