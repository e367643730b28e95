import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import JSON
import Server
import TestSupport
import Tokenizer
import XCTest

/// A real `polycom serve` service on an ephemeral loopback port, talked to over HTTP.
class ServerTestCase: XCTestCase {
    static let modelPath = repositoryRoot + "/Models/polynorm-demo"

    struct Reply {
        let status: Int
        let body: Data
        let headers: [String: String]
        var text: String { String(decoding: body, as: UTF8.self) }
        var json: JSONValue { (try? JSONValue.parse([UInt8](body))) ?? .null }
    }

    /// Starts a service; `load: false` leaves it in the loading state.
    static func startService(model: String = modelPath, load: Bool = true,
                             configure: (inout ServerOptions) -> Void = { _ in }) throws -> (InferenceService, UInt16) {
        var options = ServerOptions()
        options.port = 0
        options.servedModelName = "demo"
        configure(&options)
        let service = InferenceService(modelPath: model, options: options)
        service.log = { _ in }
        let port = try service.start()
        if load { try service.load() }
        return (service, port)
    }

    static func request(_ port: UInt16, _ method: String, _ path: String, body: Data? = nil,
                        headers: [String: String] = [:], timeout: TimeInterval = 60) -> Reply {
        var req = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        req.httpMethod = method
        req.httpBody = body
        req.timeoutInterval = timeout
        if body != nil { req.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        for (k, v) in headers { req.setValue(v, forHTTPHeaderField: k) }
        let done = DispatchSemaphore(value: 0)
        let reply = Shared(Reply(status: -1, body: Data(), headers: [:]))
        URLSession.shared.dataTask(with: req) { data, response, error in
            if let http = response as? HTTPURLResponse {
                var h: [String: String] = [:]
                for (k, v) in http.allHeaderFields { h["\(k)".lowercased()] = "\(v)" }
                reply.update { $0 = Reply(status: http.statusCode, body: data ?? Data(), headers: h) }
            } else {
                reply.update { $0 = Reply(status: -1, body: Data("\(String(describing: error))".utf8), headers: [:]) }
            }
            done.signal()
        }.resume()
        done.wait()
        return reply.value
    }

    static func post(_ port: UInt16, _ path: String, _ json: JSONValue, headers: [String: String] = [:],
                     timeout: TimeInterval = 60) -> Reply {
        request(port, "POST", path, body: Data(json.serialized().utf8), headers: headers, timeout: timeout)
    }

    /// Asserts an OpenAI error envelope with the given status.
    func assertError(_ r: Reply, _ status: Int, mentions phrase: String? = nil, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, r.text, file: file, line: line)
        let e = r.json["error"]
        XCTAssertNotNil(e?["message"]?.stringValue, "no error.message in \(r.text)", file: file, line: line)
        XCTAssertNotNil(e?["type"]?.stringValue, "no error.type in \(r.text)", file: file, line: line)
        XCTAssertNotNil(e?.objectValue?["param"], "no error.param in \(r.text)", file: file, line: line)
        XCTAssertEqual(e?["code"]?.intValue, status, file: file, line: line)
        if let phrase {
            XCTAssertTrue(r.text.contains(phrase), "'\(r.text)' does not mention '\(phrase)'", file: file, line: line)
        }
    }
}

/// One demo-model service per test class, started before its first test and drained after
/// its last (classes run one after another, so they can share the statics).
class DemoServerTestCase: ServerTestCase {
    static var service: InferenceService!
    static var port: UInt16 = 0
    static var tokenizer: Tokenizer!

    override class func setUp() {
        super.setUp()
        (service, port) = try! startService()
        tokenizer = try! Tokenizer(path: modelPath)
    }

    override class func tearDown() {
        service.drainAndStop(grace: 1)
        super.tearDown()
    }
}

/// log-softmax of one reference row, in double precision.
func logSoftmax(_ row: ArraySlice<Float>) -> [Double] {
    let m = Double(row.max()!)
    let lse = m + log(row.reduce(0.0) { $0 + exp(Double($1) - m) })
    return row.map { Double($0) - lse }
}

