import Foundation
import JSON
import XCTest
@testable import Tokenizer

/// Folders with only a SentencePiece tokenizer.model, against transformers: the conversion
/// must be the document `LlamaConverter` writes for the same file (llama/tokenizer.json is
/// that converter's output for it), and a folder must tokenize as `LlamaTokenizerFast`
/// loaded from it (tools/reference/make_sentencepiece_fixtures.py).
final class SentencePieceConverterTests: XCTestCase {
    static let modelBytes = try! Data(contentsOf: Fixtures.tokenizerDirectory("llama-spm").appendingPathComponent("tokenizer.model"))
    static let model = try! SentencePieceModel(bytes: [UInt8](modelBytes))

    func testModelProtoIsRead() {
        let m = Self.model
        XCTAssertEqual(m.pieces.count, 32000)
        XCTAssertEqual(m.modelType, .bpe)
        XCTAssertTrue(m.byteFallback)
        XCTAssertEqual(m.unkPiece, "<unk>")
        XCTAssertEqual(m.pieces[1].piece, "<s>")
        XCTAssertEqual(m.pieces[1].type, .control)
        XCTAssertEqual(m.pieces[0].type, .unknown)
        XCTAssertEqual(m.pieces[3].piece, "<0x00>")
        XCTAssertEqual(m.pieces[3].type, .byte)
        XCTAssertEqual(m.pieces[261].piece, "\u{2581}t")
        XCTAssertEqual(m.pieces[261].score, -2)
    }

    /// Vocabulary, the merges derived from the scores (58,980 of them, in rank order), the BPE
    /// flags, added tokens and every pipeline stage equal the converter's own output.
    func testLegacyConversionIsTheConvertersDocument() throws {
        let ours = try SentencePieceConverter.llama(Self.model, legacy: true, addPrefixSpace: true)
        let theirs = try Fixtures.document("llama")
        try assertSameDocument(ours, theirs)
    }

    func testNonLegacyConversionIsTheConvertersDocument() throws {
        let ours = try SentencePieceConverter.llama(Self.model, legacy: false, addPrefixSpace: true)
        try assertSameDocument(ours, try Fixtures.document("llama-nonlegacy"))
    }

    private func assertSameDocument(_ ours: JSONObject, _ theirs: JSONObject) throws {
        let a = try XCTUnwrap(ours["model"]?.objectValue), b = try XCTUnwrap(theirs["model"]?.objectValue)
        XCTAssertEqual(a["vocab"]?.objectValue?.count, 32000)
        XCTAssertEqual(a["vocab"]?.objectValue?.entries.map(\.key), b["vocab"]?.objectValue?.entries.map(\.key), "vocab order")
        XCTAssertEqual(a["vocab"], b["vocab"])
        let ourMerges = try XCTUnwrap(a["merges"]?.arrayValue), theirMerges = try XCTUnwrap(b["merges"]?.arrayValue)
        XCTAssertEqual(ourMerges.count, theirMerges.count)
        if let i = ourMerges.indices.first(where: { $0 < theirMerges.count && ourMerges[$0] != theirMerges[$0] }) {
            XCTFail("merge #\(i): \(ourMerges[i].serialized()) want \(theirMerges[i].serialized())")
        }
        XCTAssertEqual(a, b, "BPE model fields")
        for key in ["added_tokens", "normalizer", "pre_tokenizer", "decoder"] {
            XCTAssertEqual(ours[key], theirs[key], key)
        }
    }

    /// The whole corpus through the converted pipeline (with the fixture's BOS template, as
    /// the tokenizer.json fixtures have it) against HF `tokenizers`.
    func testConvertedTokenizerMatchesHFOnTheCorpus() throws {
        for (legacy, name) in [(true, "llama"), (false, "llama-nonlegacy")] {
            var document = try SentencePieceConverter.llama(Self.model, legacy: legacy, addPrefixSpace: true)
            document["post_processor"] = try Fixtures.document("llama")["post_processor"]
            let tokenizer = try Tokenizer(json: document, config: TokenizerConfig())
            try TokenizerFixtureTests.compare(name, tokenizer, checkOffsets: false)
        }
    }

    /// Each fixture folder (tokenizer.model + a tokenizer_config.json) against
    /// `LlamaTokenizerFast.from_pretrained(folder)`: ids with and without special tokens,
    /// decodes, the special tokens, and the pipeline stages the settings select.
    func testFoldersMatchTransformers() throws {
        let rows = try Fixtures.jsonLines("expected-spm-folders.jsonl")
        var tokenizers: [String: Tokenizer] = [:]
        var texts = 0, folders = 0
        for row in rows {
            let dir = try XCTUnwrap(row["dir"]?.stringValue)
            let folder = Fixtures.tokenizerDirectory(dir)
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("tokenizer.json").path))
            guard let text = row["text"]?.stringValue else {
                let tok = try Tokenizer(path: folder.path)
                tokenizers[dir] = tok
                XCTAssertEqual(tok.bosToken, row["bos_token"]?.stringValue, dir)
                XCTAssertEqual(tok.eosToken, row["eos_token"]?.stringValue, dir)
                XCTAssertEqual(tok.unkToken, row["unk_token"]?.stringValue, dir)
                XCTAssertEqual(tok.padToken, row["pad_token"]?.stringValue, dir)
                XCTAssertEqual(tok.modelMaxLength, row["model_max_length"]?.intValue, dir)
                let config = try TokenizerConfig.load(folder.appendingPathComponent("tokenizer_config.json"))
                let settings = TokenizerConfig(config: config, specialTokensMap: nil)
                let document = try SentencePieceConverter.llama(Self.model, legacy: settings.legacy ?? true,
                                                                addPrefixSpace: settings.addPrefixSpace ?? true)
                for key in ["normalizer", "pre_tokenizer", "decoder"] { XCTAssertEqual(document[key], row[key], "\(dir) \(key)") }
                folders += 1
                continue
            }
            let tok = try XCTUnwrap(tokenizers[dir])
            let ids = Fixtures.ints(row["ids"])
            XCTAssertEqual(tok.encode(text), ids, "\(dir) \(describe(text))")
            XCTAssertEqual(tok.encode(text, addSpecialTokens: false), row["ids_plain"].map(Fixtures.ints) ?? ids, "\(dir) \(describe(text))")
            let decode = row["decode"]?.stringValue ?? text
            XCTAssertTrue(scalarsEqual(tok.decode(ids), decode), "\(dir) decode \(describe(tok.decode(ids)))")
            let skip = tok.decode(ids, skipSpecialTokens: true)
            XCTAssertTrue(scalarsEqual(skip, row["decode_skip"]?.stringValue ?? decode), "\(dir) decode_skip \(describe(skip))")
            texts += 1
        }
        XCTAssertEqual(folders, 4)
        XCTAssertEqual(texts, 4 * 203)
    }

    /// What the conversion cannot do is refused by name: a Unigram model (T5-style), another
    /// tokenizer class, a damaged file.
    func testRefusals() throws {
        // ModelProto { pieces { piece: "a" score: 0 } trainer_spec { model_type: UNIGRAM } }
        let unigram: [UInt8] = [0x0A, 0x08, 0x0A, 0x01, 0x61, 0x15, 0, 0, 0, 0, 0x12, 0x02, 0x18, 0x01]
        XCTAssertEqual(try SentencePieceModel(bytes: unigram).pieces.map(\.piece), ["a"])
        XCTAssertThrowsError(try Tokenizer(sentencePieceModel: Data(unigram), config: nil, specialTokensMap: nil)) { error in
            XCTAssertEqual(error as? TokenizerError, .unsupported(component: "SentencePiece model", type: "Unigram"))
        }
        let dir = URL(fileURLWithPath: NSTemporaryDirectory() + "spm-" + UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.modelBytes.write(to: dir.appendingPathComponent("tokenizer.model"))
        try Data(#"{"tokenizer_class": "T5Tokenizer"}"#.utf8).write(to: dir.appendingPathComponent("tokenizer_config.json"))
        XCTAssertThrowsError(try Tokenizer(path: dir.path)) { error in
            XCTAssertTrue("\(error)".contains("'T5Tokenizer'"), "\(error)")
        }
        for cut in [1, 3, 1000, Self.modelBytes.count - 1] {
            XCTAssertThrowsError(try SentencePieceModel(bytes: [UInt8](Self.modelBytes.prefix(cut))), "\(cut) bytes") { error in
                guard case .malformedSentencePiece? = error as? TokenizerError else { return XCTFail("\(error)") }
            }
        }
        XCTAssertThrowsError(try SentencePieceModel(bytes: Array(#"{"model": {}}"#.utf8)))
    }
}
