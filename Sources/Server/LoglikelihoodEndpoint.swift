import Engine
import Foundation
import HTTP
import JSON
import Tokenizer

/// `POST /v1/loglikelihood`: scores (context, continuation) pairs, any number up to
/// `ServerOptions.maxLoglikelihoodItems` in one body (the engine feeds them in as room
/// frees; pairs that share a context compute it once).
struct LoglikelihoodEndpoint {
    let service: InferenceService

    func handle(_ request: HTTPRequest) throws -> HTTPResponse {
        let engine = try service.readyEngine()
        let pairs = try Self.pairs(request.body, maxItems: service.options.maxLoglikelihoodItems, limit: engine.maxModelLength,
                                   vocabulary: engine.model.vocabSize, tokenizer: service.tokenizer)
        var scores = [ScoredContinuation?](repeating: nil, count: pairs.count)
        let finished: Bool
        do {
            finished = try engine.loglikelihood(pairs, waitForRoom: false, shouldStop: { request.isClientDisconnected }) { i, r in scores[i] = r }
        } catch let e as LoglikelihoodError {
            if case .interrupted = e { throw APIError.internalError("requests[\(e.index)]: \(e)") }
            throw APIError.badRequest("requests[\(e.index)]: \(e)", param: "requests[\(e.index)]")
        } catch {
            throw service.apiError(error)
        }
        // Nobody is listening any more; whatever is answered is not read.
        guard finished else { throw APIError.unavailable("the client went away") }
        let results: [JSONValue] = scores.map { s in
            ["logprob": .double(s!.logprob), "is_greedy": .bool(s!.isGreedy), "num_tokens": .int(s!.numTokens)]
        }
        return jsonResponse(["object": "loglikelihood", "model": .string(service.modelId), "results": .array(results)])
    }

    /// The body's validated pairs: at most `maxItems`, each within `limit` tokens (the
    /// model's context) and its ids within `vocabulary`.
    static func pairs(_ body: [UInt8], maxItems most: Int, limit: Int, vocabulary: Int, tokenizer: Tokenizer) throws -> [ScoringPair] {
        var limits = BodyLimits()
        limits.fields["requests"] = .max
        limits.check = { census in
            let items = census["requests"].elements
            if items > most {
                throw APIError.badRequest("'requests' holds \(items) items; this server scores at most \(most) in one request "
                                          + "(--max-loglikelihood-items)", param: "requests")
            }
        }
        let fields = try RequestFields(body, limits: limits)
        guard let list = fields["requests"]?.arrayValue, !list.isEmpty else {
            throw APIError.badRequest("'requests' must be a non-empty list of {context, continuation}", param: "requests")
        }
        return try list.enumerated().map { i, item in
            try pair(item, index: i, limit: limit, vocabulary: vocabulary, tokenizer: tokenizer)
        }
    }

    /// Text pairs follow lm-evaluation-harness (`LoglikelihoodPairRule`, as `polycom eval`
    /// tokenizes them), with BOS before the context when the tokenizer's template adds one;
    /// a pair longer than the model's context is refused, not cut. A context of no tokens
    /// becomes BOS (or EOS when there is none).
    private static func pair(_ item: JSONValue, index: Int, limit: Int, vocabulary: Int, tokenizer: Tokenizer) throws -> ScoringPair {
        let param = "requests[\(index)]"
        guard let ctx = item["context"], let cont = item["continuation"] else {
            throw APIError.badRequest("\(param) needs 'context' and 'continuation'", param: param)
        }
        var context: [Int], continuation: [Int]
        if let c = ctx.stringValue, let x = cont.stringValue {
            let rule = LoglikelihoodPairRule(tokenizer: tokenizer, addSpecialTokens: true, maxLength: limit, truncate: false)
            do {
                let p = try rule.pair(context: c, continuation: x, index: index)
                (context, continuation) = (p.context, p.continuation)
            } catch let e as LoglikelihoodError {
                throw APIError.badRequest("\(param): \(e)", param: param)
            }
        } else if let c = ctx.arrayValue, let x = cont.arrayValue {
            let ints = { (l: [JSONValue]) throws -> [Int] in
                try l.map { v in
                    guard let i = v.intValue, i >= 0, i < vocabulary else {
                        throw APIError.badRequest("\(param): token ids must be integers in 0..<\(vocabulary)", param: param)
                    }
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
        return ScoringPair(context: context, continuation: continuation)
    }
}
