import Engine
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import JSON

/// `POST /v1/loglikelihood` to one `polycom serve`, with token-id pairs (so the server
/// scores exactly the tokens this process chose, whatever its own text rules).
struct LoglikelihoodClient: Sendable {
    enum Failure: Error {
        /// Busy (429): try again here later.
        case busy
        /// Down, cut off, or answering nonsense: give the work to another server.
        case failed(String)
        /// The request itself was refused (4xx): no server will take it.
        case refused(String)
    }

    let base: String
    let timeout: TimeInterval
    private let session: URLSession

    init(url: String, timeout: TimeInterval) {
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        for suffix in ["/v1/loglikelihood", "/v1"] where base.hasSuffix(suffix) { base.removeLast(suffix.count) }
        self.base = base
        self.timeout = timeout
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        config.timeoutIntervalForResource = timeout
        session = URLSession(configuration: config)
    }

    func score(_ pairs: [ScoringPair]) throws -> [ScoredContinuation] {
        let body: JSONValue = ["requests": .array(pairs.map {
            ["context": .array($0.context.map { .int($0) }), "continuation": .array($0.continuation.map { .int($0) })]
        })]
        guard let url = URL(string: base + "/v1/loglikelihood") else { throw Failure.refused("'\(base)' is not a URL") }
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.httpBody = Data(body.serialized().utf8)
        request.timeoutInterval = timeout
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let key = ProcessInfo.processInfo.environment["POLYCOM_API_KEY"] {
            request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
        }
        let (status, data) = try send(request)
        let json = try? JSONValue.parse([UInt8](data))
        let message = json?["error"]?["message"]?.stringValue ?? String(decoding: data.prefix(300), as: UTF8.self)
        switch status {
        case 200: break
        case 429: throw Failure.busy
        case 400..<500 where status != 408: throw Failure.refused("HTTP \(status): \(message)")
        default: throw Failure.failed("HTTP \(status): \(message)")
        }
        guard let results = json?["results"]?.arrayValue, results.count == pairs.count else {
            throw Failure.failed("the answer does not hold \(pairs.count) results")
        }
        return try results.map { r in
            guard let lp = r["logprob"]?.doubleValue, let greedy = r["is_greedy"]?.boolValue,
                  let n = r["num_tokens"]?.intValue else { throw Failure.failed("a result lacks logprob, is_greedy or num_tokens") }
            return ScoredContinuation(logprob: lp, isGreedy: greedy, numTokens: n)
        }
    }

    private func send(_ request: URLRequest) throws -> (Int, Data) {
        let done = DispatchSemaphore(value: 0)
        let box = ReplyBox()
        session.dataTask(with: request) { data, response, error in
            box.set(status: (response as? HTTPURLResponse)?.statusCode, data: data, error: error)
            done.signal()
        }.resume()
        done.wait()
        let (status, data, error) = box.get()
        guard let status else { throw Failure.failed(error.map { ($0 as NSError).localizedDescription } ?? "no answer") }
        return (status, data ?? Data())
    }
}

private final class ReplyBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: (Int?, Data?, Error?) = (nil, nil, nil)
    func set(status: Int?, data: Data?, error: Error?) { lock.withLock { value = (status, data, error) } }
    func get() -> (Int?, Data?, Error?) { lock.withLock { value } }
}
