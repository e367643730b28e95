import Foundation
import Server
import TestSupport
import XCTest

/// The playground page: embedded verbatim from Playground/web, served at `/` and
/// `/playground` as one self-contained document, open without the API key.
final class PlaygroundTests: ServerTestCase {
    static let webFolder = repositoryRoot + "/Sources/Server/Playground/web"

    private func webFiles() throws -> [String: String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.webFolder)
        return try Dictionary(uniqueKeysWithValues: names.map {
            ($0, try String(contentsOfFile: Self.webFolder + "/" + $0, encoding: .utf8))
        })
    }

    /// The page served is the inlined web folder as it is on disk now: a stale
    /// PlaygroundAssets.swift fails here (run tools/playground/embed.py).
    func testServedPageIsTheWebFolderInlined() throws {
        let files = try webFiles()
        XCTAssertGreaterThan(files.count, 2)
        let (service, port) = try Self.startService()
        defer { service.drainAndStop(grace: 1) }
        let r = Self.request(port, "GET", "/")
        XCTAssertEqual(r.status, 200)
        // Rebuilt here from the files on disk, not from what the binary embedded.
        var expected = files["index.html"]!
        for (name, text) in files where name.hasSuffix(".js") || name.hasSuffix(".css") {
            let tag = name.hasSuffix(".js") ? "<script src=\"\(name)\"></script>" : "<link rel=\"stylesheet\" href=\"\(name)\">"
            XCTAssertTrue(expected.contains(tag), "index.html does not include \(name)")
            expected = expected.replacingOccurrences(of: tag, with: name.hasSuffix(".js") ? "<script>\n\(text)</script>" : "<style>\n\(text)</style>")
        }
        XCTAssertTrue(r.text == expected, "the served page differs from Playground/web: run python3 tools/playground/embed.py")
    }

    /// One document: nothing to fetch but data: URLs, nothing that could end an inlined
    /// block early, and a policy that lets the browser fetch only from this server.
    func testPageIsSelfContained() throws {
        for (name, text) in try webFiles() where name != "index.html" {
            XCTAssertFalse(text.lowercased().contains("</script") || text.lowercased().contains("</style"), name)
        }
        let (service, port) = try Self.startService()
        defer { service.drainAndStop(grace: 1) }
        let r = Self.request(port, "GET", "/playground")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["content-type"], "text/html; charset=utf-8")
        XCTAssertTrue(r.headers["content-security-policy"]?.contains("connect-src 'self'") == true, "\(r.headers)")
        XCTAssertTrue(r.headers["content-security-policy"]?.contains("default-src 'none'") == true, "\(r.headers)")
        let page = r.text
        XCTAssertFalse(page.contains("http://") || page.contains("https://") || page.contains("//cdn"), "an external URL in the page")
        let references = page.matches(of: #/(?:src|href)\s*=\s*"([^"]*)"/#).map { String($0.1) }
        XCTAssertEqual(references, ["data:,"], "the page references files it would have to fetch")
        XCTAssertTrue(page.contains("<script>\n") && page.contains("<style>\n"))
    }

    /// The page loads while the model is still loading and without the API key (it asks
    /// for the key itself); the API behind it stays locked.
    func testPageIsOpenWithAnAPIKeyAndWhileLoading() throws {
        let (secured, port) = try Self.startService { $0.apiKey = "sekret" }
        XCTAssertEqual(Self.request(port, "GET", "/").status, 200)
        XCTAssertEqual(Self.request(port, "GET", "/playground/").status, 200)
        XCTAssertEqual(Self.request(port, "HEAD", "/").status, 200)
        assertError(Self.request(port, "GET", "/v1/models"), 401)
        assertError(Self.request(port, "POST", "/"), 405)
        secured.drainAndStop(grace: 1)

        let (loading, port2) = try Self.startService(load: false)
        XCTAssertEqual(Self.request(port2, "GET", "/").status, 200)
        assertError(Self.request(port2, "GET", "/v1/models"), 503)
        loading.drainAndStop(grace: 1)
    }
}
