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
        let index: Int
        let promptIndex: Int
        let handle: SequenceHandle
        var text: ChoiceText
        var tokens: [Int] = []
        var records: [TokenLogprob?] = []
        var promptRecords: [TokenLogprob] = []
        var finishReason: String?
        var failure: String?

        init(index: Int, promptIndex: Int, handle: SequenceHandle, text: ChoiceText) {
            (self.index, self.promptIndex, self.handle, self.text) = (index, promptIndex, handle, text)
        }
    }

    func handle(_ request: HTTPRequest) throws -> HTTPResponse {
        let engine = try service.readyEngine()
        let body = try CompletionRequest(try RequestFields(request.body), tokenizer: service.tokenizer,
                                         servedModel: service.modelId, maxModelLength: engine.maxModelLength)
        let events = EventQueue()
        let choices = try submit(body, engine: engine, events: events)
        let id = "cmpl-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let created = Int(Date().timeIntervalSince1970)
        // Plain responses go out as one chunk of a stream too, so that a client hanging up
        // while it waits still cancels its sequences (a plain response cannot see it).
        let stream = HTTPStream()
        stream.onCancel { _ in choices.forEach { $0.handle.cancel() } }
        if body.stream {
            Thread.detachNewThread {
                self.streamChoices(choices, events: events, body: body, id: id, created: created, into: stream)
            }
            return .serverSentEvents(stream)
        }
        Thread.detachNewThread {
            self.run(choices, events: events) { _, _ in }
            let json: JSONValue
            if let failure = choices.compactMap(\.failure).first {
                json = APIError.internalError(failure).json
            } else {
                json = ["id": .string(id), "object": "text_completion", "created": .int(created), "model": .string(self.service.modelId),
                        "choices": .array(choices.map { self.choiceJSON($0, body: body) }), "usage": self.usage(choices, body: body)]
            }
            _ = stream.write(json.serialized())
            stream.finish()
        }
        return .stream(headers: ["Content-Type": "application/json"], stream)
    }

    private func submit(_ body: CompletionRequest, engine: Engine, events: EventQueue) throws -> [Choice] {
        var choices: [Choice] = []
        do {
            for (p, prompt) in body.prompts.enumerated() {
                for k in 0..<body.n {
                    var params = body.params
                    if let seed = params.seed { params.seed = seed &+ UInt64(k) }
                    let wantsPrompt = body.echo && body.logprobs != nil
                    let handle = try engine.submit(GenerationRequest(prompt: prompt, params: params,
                                                                     promptLogprobsFrom: wantsPrompt ? 1 : nil,
                                                                     promptTopK: body.logprobs ?? 0), events: events)
                    choices.append(Choice(index: p * body.n + k, promptIndex: p, handle: handle,
                                          text: ChoiceText(tokenizer: service.tokenizer, prompt: prompt, stops: body.stops)))
                }
            }
        } catch {
            choices.forEach { $0.handle.cancel() }
            throw service.apiError(error)
        }
        return choices
    }

    /// Consumes the choices' events from their shared queue until every choice has ended;
    /// `onChoice` runs after each token and once at the end of each choice (streaming
    /// writes there).
    private func run(_ choices: [Choice], events: EventQueue, onChoice: (Choice, Bool) -> Void) {
        let byId = Dictionary(uniqueKeysWithValues: choices.map { ($0.handle.id, $0) })
        var open = choices.count
        while open > 0, let (id, event) = events.next(timeout: 600) {
            guard let choice = byId[id] else { continue }
            switch event {
            case .promptLogprobs(let records):
                choice.promptRecords = records
            case .token(let token, let record):
                guard choice.finishReason == nil else { continue }
                choice.tokens.append(token)
                choice.records.append(record)
                if choice.text.append(token) {
                    choice.finishReason = "stop"
                    choice.handle.cancel()
                }
                onChoice(choice, false)
            case .finished(let reason):
                if choice.finishReason == nil {
                    choice.text.finish()
                    choice.finishReason = reason == .cancelled ? "abort" : reason.rawValue
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

    private func streamChoices(_ choices: [Choice], events: EventQueue, body: CompletionRequest, id: String, created: Int,
                               into stream: HTTPStream) {
        func frame(_ choice: JSONValue) {
            let json: JSONValue = ["id": .string(id), "object": "text_completion", "created": .int(created),
                                   "model": .string(service.modelId), "choices": [choice]]
            _ = stream.writeEvent(data: json.serialized())
        }
        var streamedTokens: [ObjectIdentifier: Int] = [:]
        var echoed: Set<ObjectIdentifier> = []
        run(choices, events: events) { choice, done in
            // The echoed prompt (with its log-probs, which arrive before any token) first.
            if body.echo && echoed.insert(ObjectIdentifier(choice)).inserted {
                frame(["index": .int(choice.index), "text": .string(self.promptText(choice, body: body)),
                       "logprobs": body.logprobs == nil ? .null : self.promptLogprobsJSON(choice, body: body),
                       "finish_reason": .null])
            }
            let text = choice.text.takeStreamable(final: done)
            let from = streamedTokens[ObjectIdentifier(choice), default: 0]
            streamedTokens[ObjectIdentifier(choice)] = choice.tokens.count
            let logprobs: JSONValue = body.logprobs == nil ? .null
                : logprobsJSON(tokens: Array(choice.tokens[from...]), strings: Array(choice.text.tokenStrings[from...]),
                               records: Array(choice.records[from...]), offset: 0)
            if !text.isEmpty || (done && from < choice.tokens.count) || logprobs != .null && from < choice.tokens.count {
                frame(["index": .int(choice.index), "text": .string(text), "logprobs": logprobs, "finish_reason": .null])
            }
            if done {
                frame(["index": .int(choice.index), "text": "", "logprobs": .null,
                       "finish_reason": .string(choice.finishReason ?? "stop")])
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
            var tokens = c.tokens, strings = c.text.tokenStrings, records = c.records
            // A stop string cut the text: drop the tokens past it.
            while tokens.count > strings.count { tokens.removeLast(); records.removeLast() }
            if body.echo {
                let prompt = promptPieces(c, body: body)
                tokens = prompt.tokens + tokens
                strings = prompt.strings + strings
                records = prompt.records + records
            }
            logprobs = logprobsJSON(tokens: tokens, strings: strings, records: records, offset: 0)
        }
        return ["index": .int(c.index), "text": .string(text), "logprobs": logprobs,
                "finish_reason": .string(c.finishReason ?? "length"), "stop_reason": .null]
    }

    /// The prompt's tokens, their text pieces and log-prob records (none for the first).
    private func promptPieces(_ c: Choice, body: CompletionRequest) -> (tokens: [Int], strings: [String], records: [TokenLogprob?]) {
        let prompt = body.prompts[c.promptIndex]
        var decoder = service.tokenizer.streamingDecoder()
        return (prompt, prompt.map { decoder.step($0) ?? "" }, [nil] + c.promptRecords.map { Optional($0) })
    }

    private func promptLogprobsJSON(_ c: Choice, body: CompletionRequest) -> JSONValue {
        let p = promptPieces(c, body: body)
        return logprobsJSON(tokens: p.tokens, strings: p.strings, records: p.records, offset: 0)
    }

    /// OpenAI's legacy log-probs: parallel lists; the first prompt token has no log-prob.
    private func logprobsJSON(tokens: [Int], strings: [String], records: [TokenLogprob?], offset: Int) -> JSONValue {
        var offsets: [JSONValue] = [], position = offset
        for s in strings {
            offsets.append(.int(position))
            position += s.unicodeScalars.count
        }
        let tokenLogprobs: [JSONValue] = records.map { r in r.map { .double(Double(clamped($0.logprob))) } ?? .null }
        let top: [JSONValue] = zip(records, strings).map { r, piece in
            guard let r else { return .null }
            var o = JSONObject()
            for alt in r.top where alt.token != r.token { o[string(alt.token)] = .double(Double(clamped(alt.logprob))) }
            // The chosen token always appears, under its own piece, with the very same float.
            o[piece] = .double(Double(clamped(r.logprob)))
            return .object(o)
        }
        return ["tokens": .array(strings.map { .string($0) }), "token_logprobs": .array(tokenLogprobs),
                "top_logprobs": .array(top), "text_offset": .array(offsets)]
    }

    private func string(_ token: Int) -> String {
        service.tokenizer.decode([token])
    }

    private func usage(_ choices: [Choice], body: CompletionRequest) -> JSONValue {
        let prompt = body.prompts.reduce(0) { $0 + $1.count }
        let completion = choices.reduce(0) { $0 + $1.tokens.count }
        return ["prompt_tokens": .int(prompt), "completion_tokens": .int(completion), "total_tokens": .int(prompt + completion)]
    }
}

/// JSON cannot carry -Infinity: log-probs are clamped at -9999 (as vLLM).
func clamped(_ logprob: Float) -> Float { logprob.isNaN ? -9999 : max(logprob, -9999) }
