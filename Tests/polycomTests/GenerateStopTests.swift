import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import JSON
import Server
import TestSupport
import Tokenizer
import XCTest

/// `polycom generate` and `/v1/completions` share the engine's decode loop, so they stop on
/// the same token: here the tokenizer's EOS, which config.json does not list.
final class GenerateStopTests: XCTestCase {
    let demo = repositoryRoot + "/Models/polynorm-demo"
    let prompt = "The capital of France is"

    func generate(_ model: String, _ extra: String...) throws -> (tokens: [Int], text: String?) {
        let r = try polycom(["generate", "--model", model, "--prompt", prompt, "--max-tokens", "12", "--json"] + extra)
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try JSONValue.parse(r.stdout)
        return (json["tokens"]?.arrayValue?.compactMap(\.intValue) ?? [], json["text"]?.stringValue)
    }

    /// A copy of the demo model whose only end-of-sequence token is the tokenizer's `eos`.
    func demoCopy(eosToken: String) throws -> String {
        let dir = temporaryDirectory()
        let fm = FileManager.default
        for file in ["model.safetensors", "tokenizer.json"] {
            try fm.createSymbolicLink(atPath: dir + "/" + file, withDestinationPath: demo + "/" + file)
        }
        var config = try JSONValue.parse(String(contentsOfFile: demo + "/config.json", encoding: .utf8)).objectValue!
        config["eos_token_id"] = nil
        try JSONValue.object(config).serialized().write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        var tokenizerConfig = try JSONValue.parse(String(contentsOfFile: demo + "/tokenizer_config.json", encoding: .utf8)).objectValue!
        tokenizerConfig["eos_token"] = .string(eosToken)
        try JSONValue.object(tokenizerConfig).serialized().write(toFile: dir + "/tokenizer_config.json", atomically: true, encoding: .utf8)
        return dir
    }

    func testGenerateAndCompletionsStopOnTheTokenizersEOS() throws {
        let free = try generate(demo, "--ignore-eos").tokens
        XCTAssertEqual(free.count, 12)
        // The first token that does not occur earlier in the continuation becomes EOS.
        let at = try XCTUnwrap((2..<free.count).first { !free[..<$0].contains(free[$0]) })
        let tokenizer = try Tokenizer(path: demo)
        let model = try demoCopy(eosToken: try XCTUnwrap(tokenizer.idToToken(free[at])))
        XCTAssertEqual(try Tokenizer(path: model).eosTokenId, free[at])

        let cli = try generate(model)
        XCTAssertEqual(cli.tokens, Array(free[...at]), "generate stops on the EOS token, which is returned")

        let choice = try complete(model, ["prompt": .string(prompt), "max_tokens": 12, "temperature": 0, "logprobs": 0])
        XCTAssertEqual(choice["finish_reason"]?.stringValue, "stop")
        let tokens = try XCTUnwrap(choice["logprobs"]?["tokens"]?.arrayValue?.compactMap(\.stringValue))
        XCTAssertEqual(tokens.count, cli.tokens.count)
        XCTAssertEqual(choice["text"]?.stringValue, cli.text)
    }

    /// A stop string cuts both texts at the same place.
    func testGenerateAndCompletionsCutAtTheSameStopString() throws {
        let free = try XCTUnwrap(try generate(demo).text)
        let words = free.split(separator: " ")
        XCTAssertGreaterThan(words.count, 3, free)
        let stop = " " + words[2]
        let cli = try generate(demo, "--stop", stop)
        let choice = try complete(demo, ["prompt": .string(prompt), "max_tokens": 12, "temperature": 0, "stop": [.string(stop)]])
        XCTAssertEqual(cli.text, String(free[..<free.range(of: stop)!.lowerBound]))
        XCTAssertEqual(choice["text"]?.stringValue, cli.text)
        XCTAssertEqual(choice["finish_reason"]?.stringValue, "stop")
    }

    /// The first choice of a /v1/completions request to a fresh server on `model`.
    private func complete(_ model: String, _ body: JSONValue) throws -> JSONValue {
        var options = ServerOptions()
        options.port = 0
        let service = InferenceService(modelPath: model, options: options)
        service.log = { _ in }
        let port = try service.start()
        try service.load()
        defer { service.drainAndStop(grace: 1) }
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/completions")!)
        request.httpMethod = "POST"
        request.httpBody = Data(body.serialized().utf8)
        let reply = try JSONValue.parse([UInt8](try synchronousData(request)))
        return try XCTUnwrap(reply["choices"]?[0], "\(reply)")
    }

    private func synchronousData(_ request: URLRequest) throws -> Data {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<Data, Error> = .failure(URLError(.timedOut))
        URLSession.shared.dataTask(with: request) { data, _, error in
            result = error.map { .failure($0) } ?? .success(data ?? Data())
            done.signal()
        }.resume()
        done.wait()
        return try result.get()
    }
}
