import Foundation
import FuzzSupport
import HTTP

/// One server for the whole run, as `polycom serve` configures its connections, with a small
/// body limit so short inputs reach the 413 path. Its handler echoes what it was handed
/// (method, path, query, headers, body) in the body and a header, and `/stream` answers
/// with a few server-sent events from another thread.
let server: HTTPServer = {
    signal(SIGPIPE, SIG_IGN)
    var configuration = HTTPServerConfiguration()
    configuration.maxBodyBytes = 4096
    configuration.requestTimeoutSeconds = 2
    configuration.bodyTooLargeResponse = { HTTPResponse(status: 413, text: "{\"error\": \"over \($0) bytes\"}") }
    return try! HTTPServer(configuration: configuration) { request in
        if request.path == "/stream" {
            let stream = HTTPStream()
            Thread.detachNewThread {
                for item in request.queryItems.prefix(4) { _ = stream.writeEvent(data: item.value ?? item.name, event: item.name) }
                stream.finish()
            }
            return .serverSentEvents(stream)
        }
        var headers = HTTPHeaders()
        headers.add("X-Path", request.path)
        let lines = ["\(request.method) \(request.path) \(request.version)"]
            + request.queryItems.map { "? \($0.name)=\($0.value ?? "nil")" }
            + request.headers.map { "\($0.name): \($0.value)" }
            + ["body \(request.body.count) bytes: \(request.bodyText)"]
        return HTTPResponse(status: request.query("status").flatMap(Int.init) ?? 200, headers: headers,
                            text: lines.joined(separator: "\n"))
    }
}()

/// libFuzzer entry point: any bytes written to the server's socket, then the write side
/// closed; the answer is read until the server closes. The server must neither crash nor
/// keep the half-closed connection open (5 s read timeout, past its 2 s request timeout).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    precondition(fd >= 0, "socket: errno \(errno)")
    defer { close(fd) }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = server.port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    // libFuzzer's timer signal interrupts system calls (EINTR): each is retried. An
    // interrupted connect goes on in the background; calling again reports its progress.
    while true {
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if connected == 0 || errno == EISCONN { break }
        precondition(errno == EINTR || errno == EALREADY, "connect: errno \(errno)")
        if errno == EALREADY { usleep(100) }
    }
    var sent = 0
    while sent < size, let data {
        let n = send(fd, data + sent, size - sent, Int32(MSG_NOSIGNAL))
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }  // the server may answer and close before it has read everything
        sent += n
    }
    shutdown(fd, Int32(SHUT_WR))
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n > 0 || (n < 0 && errno == EINTR) { continue }
        precondition(n == 0 || errno == ECONNRESET, "the server kept the connection open (recv errno \(errno))")
        break
    }
    return 0
}

@_cdecl("fuzz_http_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { fuzzHTTP($0, $1) }
}
