import JSON

/// What transformers builds from a folder with only `tokenizer.model`: `LlamaTokenizerFast`
/// converts the SentencePiece model with `LlamaConverter` (convert_slow_tokenizer.py) into a
/// tokenizer.json pipeline. This produces the same document, field for field, so the
/// tokenizer that runs it is id-exact with transformers.
///
/// - model: BPE over the pieces (ids = piece order), merges derived from the pieces'
///   scores (`generate_merges`), unk = trainer_spec.unk_piece, fuse_unk, byte_fallback
/// - added tokens: control pieces (special) and user-defined pieces, not normalized
/// - legacy (transformers' default): normalizer Prepend("▁") (when add_prefix_space) + Replace(" ", "▁"),
///   no pre-tokenizer; non-legacy: no normalizer, Metaspace(prepend_scheme first / never, split false)
/// - decoder: Replace("▁", " "), ByteFallback, Fuse, then Strip(" ", 1, 0) when add_prefix_space
/// - no post-processor: LlamaTokenizerFast adds the BOS/EOS template (see `TokenizerConfig`).
enum SentencePieceConverter {
    static func llama(_ model: SentencePieceModel, legacy: Bool, addPrefixSpace: Bool) throws -> JSONObject {
        guard model.modelType == .bpe else {
            // LlamaConverter would build a Unigram model, which this tokenizer does not run.
            throw TokenizerError.unsupported(component: "SentencePiece model", type: model.modelType.name)
        }
        // LlamaConverter.vocab: the first three ids keep their pieces but score 0.
        let vocab = model.pieces.enumerated().map { i, p in (piece: p.piece.scalarValues, score: i < 3 ? 0 : p.score) }
        var vocabObject = JSONObject()
        for (id, entry) in vocab.enumerated() { vocabObject[String(scalarValues: entry.piece)] = .int(id) }
        let merges = mergesFromScores(vocab).map { JSONValue.array([.string(String(scalarValues: $0.left)), .string(String(scalarValues: $0.right))]) }

        let bpe: JSONObject = [
            "type": "BPE", "dropout": nil, "unk_token": .string(model.unkPiece),
            "continuing_subword_prefix": nil, "end_of_word_suffix": nil,
            "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
            "vocab": .object(vocabObject), "merges": .array(merges),
        ]
        let added: [JSONValue] = model.pieces.enumerated().compactMap { id, p in
            guard p.type == .control || p.type == .userDefined else { return nil }
            return ["id": .int(id), "content": .string(p.piece), "single_word": false, "lstrip": false,
                    "rstrip": false, "normalized": false, "special": .bool(p.type == .control)]
        }
        let space: JSONValue = "\u{2581}"
        var normalizer: JSONValue = nil, preTokenizer: JSONValue = nil
        if legacy {
            var steps: [JSONValue] = addPrefixSpace ? [["type": "Prepend", "prepend": space]] : []
            steps.append(["type": "Replace", "pattern": ["String": " "], "content": space])
            normalizer = ["type": "Sequence", "normalizers": .array(steps)]
        } else {
            preTokenizer = ["type": "Metaspace", "replacement": space,
                            "prepend_scheme": addPrefixSpace ? "first" : "never", "split": false]
        }
        var decoders: [JSONValue] = [["type": "Replace", "pattern": ["String": space], "content": " "],
                                     ["type": "ByteFallback"], ["type": "Fuse"]]
        if addPrefixSpace { decoders.append(["type": "Strip", "content": " ", "start": 1, "stop": 0]) }

        return [
            "version": "1.0", "truncation": nil, "padding": nil, "added_tokens": .array(added),
            "normalizer": normalizer, "pre_tokenizer": preTokenizer, "post_processor": nil,
            "decoder": ["type": "Sequence", "decoders": .array(decoders)], "model": .object(bpe),
        ]
    }

    /// transformers' `generate_merges(vocab, vocab_scores)`: every split of every piece into two
    /// pieces of the vocabulary is a merge (within a piece ordered by the halves' ids), and all
    /// merges are ranked by the piece's score, then the lengths of the left and right halves,
    /// all descending; ties keep that order (Python's sort is stable, also with reverse=True).
    static func mergesFromScores(_ vocab: [(piece: [UInt32], score: Float)]) -> [(left: [UInt32], right: [UInt32])] {
        var ids: [[UInt32]: Int] = [:]
        ids.reserveCapacity(vocab.count)
        for (id, entry) in vocab.enumerated() { ids[entry.piece] = id }
        var merges: [(left: [UInt32], right: [UInt32], leftId: Int, rightId: Int, score: Float)] = []
        for entry in vocab where entry.piece.count > 1 {
            var local: [(left: [UInt32], right: [UInt32], leftId: Int, rightId: Int, score: Float)] = []
            for cut in 1..<entry.piece.count {
                let left = Array(entry.piece[..<cut]), right = Array(entry.piece[cut...])
                if let l = ids[left], let r = ids[right] { local.append((left, right, l, r, entry.score)) }
            }
            local.sort { ($0.leftId, $0.rightId) < ($1.leftId, $1.rightId) }
            merges.append(contentsOf: local)
        }
        let order = merges.indices.sorted { a, b in
            let x = merges[a], y = merges[b]
            if x.score != y.score { return x.score > y.score }
            if x.left.count != y.left.count { return x.left.count > y.left.count }
            if x.right.count != y.right.count { return x.right.count > y.right.count }
            return a < b
        }
        return order.map { (merges[$0].left, merges[$0].right) }
    }
}
