import Foundation
import HTTP
import XCTest

final class HTTPSocketOptionTests: XCTestCase {
    /// The server lives in this process, so its accepted socket is one of our descriptors:
    /// find the one whose peer is the test client and read its TCP_NODELAY.
    func testAcceptedSocketsHaveNoDelay() throws {
        let server = try makeServer()
        let client = try TestConnection(port: server.port)
        XCTAssertEqual(try client.request("GET", "/hello").status, 200)

        let clientPort = try XCTUnwrap(Self.port(of: client.fd, peer: false))
        var found = false
        for fd in Int32(0)..<4096 where fd != client.fd {
            guard Self.port(of: fd, peer: false) == server.port,
                  Self.port(of: fd, peer: true) == clientPort else { continue }
            var value: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            XCTAssertEqual(getsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &value, &length), 0)
            XCTAssertNotEqual(value, 0, "TCP_NODELAY not set on accepted socket")
            found = true
        }
        XCTAssertTrue(found, "server-side socket not found")
    }

    private static func port(of fd: Int32, peer: Bool) -> UInt16? {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                peer ? getpeername(fd, $0, &length) : getsockname(fd, $0, &length)
            }
        }
        guard rc == 0, address.sin_family == sa_family_t(AF_INET) else { return nil }
        return UInt16(bigEndian: address.sin_port)
    }
}
