import Engine
import Foundation
import HTTP
import JSON
import Tokenizer

/// `POST /v1/loglikelihood`: scores (context, continuation) pairs. Pairs that share a
/// context compute it once (the engine's prefix cache).
struct LoglikelihoodEndpoint {
    let service: InferenceService

    struct Pair {
        let context: [Int]
        let continuation: [Int]
    }

    func handle(_ request: HTTPRequest) throws -> HTTPResponse {
        let engine = try service.readyEngine()
        let fields = try RequestFields(request.body)
        guard let list = fields["requests"]?.arrayValue, !list.isEmpty else {
            throw APIError.badRequest("'requests' must be a non-empty list of {context, continuation}", param: "requests")
        }
        let pairs = try list.enumerated().map { i, item in try pair(item, index: i, limit: engine.maxModelLength) }
        var params = SamplingParams()
        params.maxTokens = 0
        params.temperature = 0
        var handles: [SequenceHandle] = []
        do {
            for p in pairs {
                handles.append(try engine.submit(GenerationRequest(prompt: p.context + p.continuation, params: params,
                                                                   promptLogprobsFrom: p.context.count, promptTopK: 1)))
            }
        } catch {
            handles.forEach { $0.cancel() }
            throw service.apiError(error)
        }
        var results: [JSONValue] = []
        for (h, p) in zip(handles, pairs) {
            var records: [TokenLogprob] = []
            loop: while let event = h.next(timeout: 600) {
                switch event {
                case .promptLogprobs(let r): records = r
                case .token: continue
                case .finished: break loop
                case .failed(let m): handles.forEach { $0.cancel() }; throw APIError.internalError(m)
                }
            }
            guard records.count == p.continuation.count else { throw APIError.internalError("scoring was interrupted") }
            let sum = records.reduce(0.0) { $0 + Double($1.logprob) }
            results.append(["logprob": .double(max(sum, -9999 * Double(max(records.count, 1)))),
                            "is_greedy": .bool(records.allSatisfy(\.isGreedy)), "num_tokens": .int(records.count)])
        }
        return jsonResponse(["object": "loglikelihood", "model": .string(service.modelId), "results": .array(results)])
    }

    /// Text pairs follow lm-evaluation-harness: trailing spaces of the context move to the
    /// continuation, the continuation's tokens are those of context+continuation past the
    /// context's. A context of no tokens becomes BOS (or EOS when there is none).
    private func pair(_ item: JSONValue, index: Int, limit: Int) throws -> Pair {
        let param = "requests[\(index)]"
        guard let ctx = item["context"], let cont = item["continuation"] else {
            throw APIError.badRequest("\(param) needs 'context' and 'continuation'", param: param)
        }
        let tokenizer = service.tokenizer
        var context: [Int], continuation: [Int]
        if var c = ctx.stringValue, var x = cont.stringValue {
            let trailing = c.reversed().prefix { $0 == " " }.count
            if trailing > 0 {
                x = String(c.suffix(trailing)) + x
                c = String(c.dropLast(trailing))
            }
            let whole = tokenizer.encode(c + x, addSpecialTokens: false)
            context = tokenizer.encode(c, addSpecialTokens: false)
            continuation = Array(whole[min(context.count, whole.count)...])
            if let bos = tokenizer.bosTokenId, tokenizer.encode("", addSpecialTokens: true).first == bos {
                context.insert(bos, at: 0)
            }
        } else if let c = ctx.arrayValue, let x = cont.arrayValue {
            let ints = { (l: [JSONValue]) throws -> [Int] in
                try l.map { v in
                    guard let i = v.intValue, i >= 0 else { throw APIError.badRequest("\(param): token ids must be non-negative integers", param: param) }
                    return i
                }
            }
            context = try ints(c)
            continuation = try ints(x)
        } else {
            throw APIError.badRequest("\(param): 'context' and 'continuation' must both be strings or both be token-id lists", param: param)
        }
        if context.isEmpty, let first = tokenizer.bosTokenId ?? tokenizer.eosTokenId { context = [first] }
        guard !context.isEmpty else { throw APIError.badRequest("\(param): the context is empty", param: param) }
        guard !continuation.isEmpty else { throw APIError.badRequest("\(param): the continuation is empty", param: param) }
        guard context.count + continuation.count <= limit else {
            throw APIError.badRequest("\(param): \(context.count + continuation.count) tokens exceed the maximum context length \(limit)", param: param)
        }
        return Pair(context: context, continuation: continuation)
    }
}
