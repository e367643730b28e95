import Foundation
#if canImport(Glibc)
import Glibc
#endif
import JSON
import Server
import TestSupport
import XCTest

/// Request bodies are counted before they are parsed, and refused before the server builds
/// anything per prompt.
final class RequestLimitsTests: ServerTestCase {
    /// VmRSS and VmHWM of this process (the server runs in it), in bytes.
    func memory() throws -> (rss: Int, peak: Int) {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        func field(_ name: String) -> Int {
            let line = status.split(separator: "\n").first { $0.hasPrefix(name + ":") } ?? ""
            return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1) * 1024
        }
        return (field("VmRSS"), field("VmHWM"))
    }

    /// Starts a new peak-RSS measurement (Linux: "5" resets VmHWM to the current RSS).
    func resetPeak() throws {
        try "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    /// A POST over a plain socket, sent straight from `body` (URLSession would copy it in
    /// this very process, whose memory the test measures). Returns status and body text.
    func rawPost(_ port: UInt16, _ path: String, body: [UInt8]) throws -> (status: Int, text: String) {
        let head = Array("POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n".utf8)
        return try rawExchange(port, [head, body]).reply
    }

    /// Sends `parts` in turn, reads to the server's close; status, body text and the whole reply.
    func rawExchange(_ port: UInt16, _ parts: [[UInt8]]) throws -> (reply: (status: Int, text: String), raw: String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw XCTSkip("no socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(connected, 0)
        for bytes in parts {
            var sent = 0
            while sent < bytes.count {
                let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
                guard n > 0 else { break }
                sent += n
            }
        }
        var reply: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            reply += buffer[0..<n]
        }
        let text = String(decoding: reply, as: UTF8.self)
        let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? -1
        return ((status, String(text.split(separator: "\r\n\r\n", maxSplits: 1).last ?? "")), text)
    }

    /// The issue's body: 1.6 M one-token prompts in 6.4 MB (and the same tree hidden in a
    /// field nobody reads). Parsed, it took 400 MB; it must be refused with a 400 while
    /// the server's peak memory grows by less than twice the body.
    func testMillionsOfTinyPromptsAreRefusedBeforeTheyCostMemory() throws {
        let (service, port) = try Self.startService()
        defer { service.drainAndStop(grace: 1) }
        let tree = "[" + Array(repeating: "[1]", count: 1_600_000).joined(separator: ",") + "]"
        for (body, phrase) in [(#"{"prompt": \#(tree)}"#, "'prompt'"), (#"{"prompt": "x", "junk": \#(tree)}"#, "'junk'")] {
            let bytes = Array(body.utf8)
            try resetPeak()
            let before = try memory()
            let reply = try rawPost(port, "/v1/completions", body: bytes)
            let after = try memory()
            XCTAssertEqual(reply.status, 400, String(reply.text.prefix(300)))
            XCTAssertTrue(reply.text.contains(phrase), reply.text)
            let growth = after.peak - before.rss
            XCTAssertLessThan(growth, 2 * bytes.count, "peak RSS grew by \(growth) bytes for a \(bytes.count)-byte body")
        }
        XCTAssertEqual(Self.post(port, "/v1/completions", ["prompt": "Hi", "max_tokens": 2]).status, 200)
    }

    /// prompts × n (or × best_of) beyond what the queue can take at once is a 400 naming
    /// the limit, not a 429 that no retry can cure.
    func testSequencesPerRequestAreBounded() throws {
        let (service, port) = try Self.startService { $0.engine.maxQueue = 8 }
        defer { service.drainAndStop(grace: 1) }
        let prompts: JSONValue = .array((0..<3).map { _ in [1, 450] })
        assertError(Self.post(port, "/v1/completions", ["prompt": prompts, "n": 3, "max_tokens": 1]), 400, mentions: "at most 8")
        assertError(Self.post(port, "/v1/completions", ["prompt": prompts, "best_of": 3, "max_tokens": 1]), 400, mentions: "best_of")
        let fits = Self.post(port, "/v1/completions", ["prompt": prompts, "n": 2, "max_tokens": 1])
        XCTAssertEqual(fits.status, 200, fits.text)
        XCTAssertEqual(fits.json["choices"]?.arrayValue?.count, 6)
        // More prompts than the queue holds and longer than the context: refused on the census.
        let many: JSONValue = .array((0..<600).map { _ in [1] })
        assertError(Self.post(port, "/v1/completions", ["prompt": many]), 400, mentions: "600 entries")
    }

    /// The fault drill: bodies nested 200 deep (and far deeper) in every field and at the top,
    /// on both JSON endpoints. Each gets a 400 envelope, none a crash, and the server serves on.
    func testDeeplyNestedBodiesAreRefusedCleanly() throws {
        let (service, port) = try Self.startService()
        defer { service.drainAndStop(grace: 1) }
        func nest(_ depth: Int, _ open: String, _ inner: String, _ close: String) -> String {
            String(repeating: open, count: depth) + inner + String(repeating: close, count: depth)
        }
        let bodies = [
            nest(200, "[", "1", "]"),
            #"{"prompt": \#(nest(200, "[", "1", "]"))}"#,
            #"{"prompt": "x", "stop": \#(nest(200, "{\"a\":", "1", "}"))}"#,
            #"{"requests": \#(nest(200, "[", "{}", "]"))}"#,
            #"{"prompt": \#(nest(100_000, "[", "", "]"))}"#,
            nest(100_000, "{\"a\":", "1", "}"),
        ]
        for path in ["/v1/completions", "/v1/loglikelihood"] {
            for body in bodies {
                let reply = try rawPost(port, path, body: Array(body.utf8))
                XCTAssertEqual(reply.status, 400, "\(path) \(body.prefix(40)): \(reply.text.prefix(300))")
                let error = (try? JSONValue.parse(Array(reply.text.utf8)))?["error"]
                XCTAssertEqual(error?["code"]?.intValue, 400, reply.text)
                XCTAssertNotNil(error?["message"]?.stringValue, reply.text)
            }
        }
        XCTAssertEqual(Self.post(port, "/v1/completions", ["prompt": "Hi", "max_tokens": 2]).status, 200)
    }

    /// A Content-Length libmicrohttpd would answer with its own HTML page gets the API's error
    /// envelope (and a close), first on a connection or after a served request.
    func testUnparsableContentLengthGetsTheErrorEnvelope() throws {
        let (service, port) = try Self.startService()
        defer { service.drainAndStop(grace: 1) }
        let good = Array(#"{"prompt": "Hi", "max_tokens": 1}"#.utf8)
        let served = Array("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(good.count)\r\n\r\n".utf8) + good
        for (value, status) in [("-1", 400), ("99999999999999999999", 400), ("12abc", 400), ("10000000000000000000", 413)] {
            let bad = Array("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(value)\r\n\r\n{}".utf8)
            for parts in [[bad], [served + bad]] {
                let (reply, raw) = try rawExchange(port, parts)
                XCTAssertFalse(raw.lowercased().contains("<html"), raw)
                let answers = raw.components(separatedBy: "HTTP/1.1 ").dropFirst()
                XCTAssertEqual(answers.count, parts[0].count > bad.count ? 2 : 1, raw)
                XCTAssertEqual(reply.status, parts[0].count > bad.count ? 200 : status, raw)
                let last = try XCTUnwrap(answers.last)
                XCTAssertTrue(last.hasPrefix("\(status) "), raw)
                XCTAssertTrue(last.lowercased().contains("content-type: application/json"), raw)
                let error = (try? JSONValue.parse(Array(String(last.split(separator: "\r\n\r\n", maxSplits: 1).last ?? "").utf8)))?["error"]
                XCTAssertEqual(error?["code"]?.intValue, status, raw)
                XCTAssertEqual(error?["type"]?.stringValue, "invalid_request_error", raw)
            }
        }
    }

    /// --max-prompt-tokens, --max-generated-tokens and --max-logprobs: past each, a 400 that
    /// names the flag; at each, the request is served.
    func testPromptGenerationAndLogprobLimitsAreFlags() throws {
        let (service, port) = try Self.startService {
            $0.maxPromptTokens = 8
            $0.maxGeneratedTokens = 12
            $0.maxLogprobs = 3
        }
        defer { service.drainAndStop(grace: 1) }
        func prompt(_ count: Int) -> JSONValue { .array([1] + Array(repeating: 450, count: count - 1)) }
        assertError(Self.post(port, "/v1/completions", ["prompt": prompt(9), "max_tokens": 1]), 400, mentions: "--max-prompt-tokens")
        XCTAssertEqual(Self.post(port, "/v1/completions", ["prompt": prompt(8), "max_tokens": 1]).status, 200)
        assertError(Self.post(port, "/v1/completions", ["prompt": [prompt(2), prompt(2)], "n": 2, "max_tokens": 4]), 400,
                    mentions: "--max-generated-tokens")
        let fits = Self.post(port, "/v1/completions", ["prompt": [prompt(2), prompt(2)], "n": 2, "max_tokens": 3, "temperature": 0, "ignore_eos": true])
        XCTAssertEqual(fits.status, 200, fits.text)
        XCTAssertEqual(fits.json["usage"]?["completion_tokens"]?.intValue, 12)
        assertError(Self.post(port, "/v1/completions", ["prompt": prompt(2), "max_tokens": 1, "logprobs": 4]), 400, mentions: "--max-logprobs")
        // Greedy, so the chosen token is among the top 3 and adds no fourth entry.
        let three = Self.post(port, "/v1/completions", ["prompt": prompt(2), "max_tokens": 1, "logprobs": 3, "temperature": 0])
        XCTAssertEqual(three.json["choices"]?[0]?["logprobs"]?["top_logprobs"]?[0]?.objectValue?.entries.count, 3, three.text)
    }
}
