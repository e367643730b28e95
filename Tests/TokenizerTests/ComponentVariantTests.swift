import Foundation
import JSON
import XCTest
@testable import Tokenizer

/// Components the three real tokenizers do not use (Digits, Split behaviors and invert,
/// WhitespaceSplit, Metaspace always/never/split, NFKC, Lowercase, Strip, Replace, added-token
/// lstrip/rstrip/single_word/normalized, ignore_merges, unk with and without fusing, subword
/// prefix/suffix, no decoder), each as a JSON patch on a base tokenizer.json. The same patch
/// was applied in Python and HF `tokenizers` produced the expected values.
final class ComponentVariantTests: XCTestCase {
    private func tokenizer(for spec: JSONObject) throws -> Tokenizer {
        let name = spec["name"]!.stringValue!
        guard let baseName = spec["base"]?.stringValue else {
            let data = try Data(contentsOf: Fixtures.directory.appendingPathComponent("variants/\(name).tokenizer.json"))
            return try Tokenizer(tokenizerJSON: data)
        }
        return try Tokenizer(json: Fixtures.apply(spec, to: Fixtures.document(baseName)), config: TokenizerConfig())
    }

    func testVariantsMatchHF() throws {
        let specs = try XCTUnwrap(try Fixtures.json("variants/variants.json").arrayValue).compactMap(\.objectValue)
        XCTAssertEqual(specs.count, 9)
        for spec in specs {
            let name = spec["name"]!.stringValue!
            let tok = try tokenizer(for: spec)
            let rows = try Fixtures.jsonLines("variants/expected-\(name).jsonl")
            var mismatches = 0
            for row in rows {
                let text = row["text"]!.stringValue!
                let ids = Fixtures.ints(row["ids"])
                let idsSpecial = row["ids_special"].map(Fixtures.ints) ?? ids
                let decode = row["decode"]?.stringValue ?? text
                let encoding = tok.encodeWithOffsets(text, addSpecialTokens: false)
                var problems: [String] = []
                if encoding.ids != ids { problems.append("ids \(encoding.ids.prefix(30)) want \(ids.prefix(30))") }
                let special = tok.encode(text, addSpecialTokens: true)
                if special != idsSpecial { problems.append("ids_special \(special.prefix(30)) want \(idsSpecial.prefix(30))") }
                if let offsets = row["offsets"]?.arrayValue {
                    let want = offsets.map { pair -> TokenOffset in
                        let p = Fixtures.ints(pair)
                        return TokenOffset(start: p[0], end: p[1])
                    }
                    if encoding.offsets != want { problems.append("offsets \(encoding.offsets.prefix(20)) want \(want.prefix(20))") }
                }
                let got = tok.decode(ids, skipSpecialTokens: false)
                if !scalarsEqual(got, decode) { problems.append("decode \"\(describe(got))\" want \"\(describe(decode))\"") }
                let gotSkip = tok.decode(idsSpecial, skipSpecialTokens: true)
                let wantSkip = row["decode_skip"]?.stringValue ?? decode
                if !scalarsEqual(gotSkip, wantSkip) { problems.append("decode_skip \"\(describe(gotSkip))\" want \"\(describe(wantSkip))\"") }
                if !problems.isEmpty {
                    mismatches += 1
                    if mismatches <= 5 { XCTFail("\(name) \"\(describe(String(text.prefix(60))))\": \(problems.joined(separator: "; "))") }
                }
            }
            print("[variant \(name)] \(rows.count) texts, \(mismatches) mismatching")
        }
    }

    /// A model folder (tokenizer.json + tokenizer_config.json) against transformers' AutoTokenizer,
    /// and tokenizer_config add_bos_token / add_eos_token against LlamaTokenizerFast.
    func testTokenizerConfigMatchesTransformers() throws {
        let rows = try Fixtures.jsonLines("expected-llama-config.jsonl")
        let data = try Data(contentsOf: Fixtures.tokenizerDirectory("llama").appendingPathComponent("tokenizer.json"))
        var tokenizers: [String: Tokenizer] = [:]
        var compared = 0
        for row in rows {
            if let dir = row["dir"]?.stringValue {
                if tokenizers[dir] == nil { tokenizers[dir] = try Tokenizer(path: Fixtures.tokenizerDirectory(dir).path) }
                let text = row["text"]!.stringValue!
                XCTAssertEqual(tokenizers[dir]!.encode(text), Fixtures.ints(row["ids"]), "\(dir) \(describe(text))")
                let skip = tokenizers[dir]!.decode(Fixtures.ints(row["ids"]), skipSpecialTokens: true)
                XCTAssertTrue(scalarsEqual(skip, row["decode_skip"]!.stringValue!), "\(dir) decode_skip \(describe(skip))")
                let clean = tokenizers[dir]!.decode(Fixtures.ints(row["ids"]), skipSpecialTokens: true, cleanUpTokenizationSpaces: true)
                XCTAssertTrue(scalarsEqual(clean, row["decode_clean"]!.stringValue!), "\(dir) decode_clean \(describe(clean))")
                compared += 1
                continue
            }
            let bos = row["add_bos_token"]!.boolValue!, eos = row["add_eos_token"]!.boolValue!
            let key = "\(bos)-\(eos)"
            if tokenizers[key] == nil {
                var config = TokenizerConfig()
                config.addBosToken = bos; config.addEosToken = eos
                config.bosToken = "<s>"; config.eosToken = "</s>"; config.unkToken = "<unk>"
                tokenizers[key] = try Tokenizer(tokenizerJSON: data, config: config)
            }
            let text = row["text"]!.stringValue!
            XCTAssertEqual(tokenizers[key]!.encode(text), Fixtures.ints(row["ids"]), "\(key) \(describe(text))")
            compared += 1
        }
        XCTAssertEqual(compared, rows.count)
    }
}
