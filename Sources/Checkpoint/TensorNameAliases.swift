import Kernels

/// Maps the tensor names of other checkpoint layouts onto the canonical Hugging Face
/// names (design §3), splitting fused tensors where a layout fuses them.
///
/// Layouts: HF with or without the `model.` prefix; Megatron-LM
/// (`model.language_model.encoder.layers.{i}…`, fused QKV interleaved per KV group);
/// OLMo (`transformer.blocks.{i}…`, fused `att_proj`, `ff_proj` = [up; gate]); fused
/// expert tensors (ExpertTensorSplits.swift).
public enum TensorNameAliases {
    /// Buffers some exporters save that are recomputed, never loaded.
    public static func isIgnored(_ name: String) -> Bool {
        name.hasSuffix("rotary_emb.inv_freq") || name.hasSuffix("._extra_state")
    }

    /// One-to-one renames; `#` stands for a layer number.
    static let renames: [(from: String, to: String)] = [
        // HF names saved from the base model, without the `model.` prefix.
        ("embed_tokens.weight", "model.embed_tokens.weight"),
        ("norm.weight", "model.norm.weight"),
        ("layers.#.", "model.layers.#."),
        // Megatron-LM.
        ("model.language_model.embedding.word_embeddings.weight", "model.embed_tokens.weight"),
        ("model.language_model.encoder.final_layernorm.weight", "model.norm.weight"),
        ("model.language_model.encoder.final_norm.weight", "model.norm.weight"),
        ("model.language_model.output_layer.weight", "lm_head.weight"),
        ("model.language_model.encoder.layers.#.input_layernorm.weight", "model.layers.#.input_layernorm.weight"),
        ("model.language_model.encoder.layers.#.input_norm.weight", "model.layers.#.input_layernorm.weight"),
        ("model.language_model.encoder.layers.#.post_attention_layernorm.weight", "model.layers.#.post_attention_layernorm.weight"),
        ("model.language_model.encoder.layers.#.post_attention_norm.weight", "model.layers.#.post_attention_layernorm.weight"),
        ("model.language_model.encoder.layers.#.self_attention.dense.weight", "model.layers.#.self_attn.o_proj.weight"),
        ("model.language_model.encoder.layers.#.mlp.dense_h_to_4h.weight", "model.layers.#.mlp.up_proj.weight"),
        ("model.language_model.encoder.layers.#.mlp.dense_4h_to_h.weight", "model.layers.#.mlp.down_proj.weight"),
        ("model.language_model.encoder.layers.#.mlp.act_fn.weight", "model.layers.#.mlp.act_fn.weight"),
        ("model.language_model.encoder.layers.#.mlp.act_fn.bias", "model.layers.#.mlp.act_fn.bias"),
        // OLMo.
        ("transformer.wte.weight", "model.embed_tokens.weight"),
        ("transformer.ln_f.weight", "model.norm.weight"),
        ("transformer.ff_out.weight", "lm_head.weight"),
        ("transformer.blocks.#.attn_norm.weight", "model.layers.#.input_layernorm.weight"),
        ("transformer.blocks.#.ff_norm.weight", "model.layers.#.post_attention_layernorm.weight"),
        ("transformer.blocks.#.attn_out.weight", "model.layers.#.self_attn.o_proj.weight"),
        ("transformer.blocks.#.ff_out.weight", "model.layers.#.mlp.down_proj.weight"),
        ("transformer.blocks.#.q_norm.weight", "model.layers.#.self_attn.q_norm.weight"),
        ("transformer.blocks.#.k_norm.weight", "model.layers.#.self_attn.k_norm.weight"),
        ("transformer.blocks.#.ffn.router.layer.weight", "model.layers.#.mlp.gate.weight"),
        ("transformer.blocks.#.act.weight", "model.layers.#.mlp.act_fn.weight"),
        ("transformer.blocks.#.act.bias", "model.layers.#.mlp.act_fn.bias"),
    ]

    /// Fused tensors: name pattern → how its rows split into canonical tensors.
    enum Split {
        /// Rows [q; k; v] back to back (OLMo att_proj).
        case qkvConcatenated
        /// Megatron: per KV group, that group's q heads then one k head then one v head.
        case qkvInterleaved
        /// OLMo ff_proj: rows [up; gate].
        case upGate
    }

    static let splits: [(from: String, split: Split)] = [
        ("model.language_model.encoder.layers.#.self_attention.query_key_value.weight", .qkvInterleaved),
        ("transformer.blocks.#.att_proj.weight", .qkvConcatenated),
        ("transformer.blocks.#.ff_proj.weight", .upGate),
    ]

    /// The layer number if `name` matches `pattern` (`#` = digits), else nil; -1 when the
    /// pattern has no `#`.
    static func match(_ name: String, _ pattern: String) -> (layer: Int, rest: Substring)? {
        guard let hash = pattern.firstIndex(of: "#") else {
            return name == pattern ? (-1, "") : nil
        }
        let prefix = pattern[..<hash], suffix = pattern[pattern.index(after: hash)...]
        guard name.hasPrefix(prefix) else { return nil }
        let afterPrefix = name.dropFirst(prefix.count)
        let digits = afterPrefix.prefix(while: { $0.isASCII && $0.isNumber })
        guard !digits.isEmpty, let layer = Int(digits) else { return nil }
        let tail = afterPrefix.dropFirst(digits.count)
        // A pattern ending in "." renames a whole subtree; otherwise the tail must match.
        if suffix.hasSuffix(".") || suffix.isEmpty {
            guard tail.hasPrefix(suffix) else { return nil }
            return (layer, tail.dropFirst(suffix.count))
        }
        return tail == suffix ? (layer, "") : nil
    }

    /// Canonical name → tensor. Names already canonical pass through unchanged. `expected`
    /// are the canonical names the model wants: fused expert tensors split according to
    /// whether it wants gate projections.
    public static func canonicalize(_ tensors: [String: Tensor], config: ModelConfig,
                                    expected: Set<String>) throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        func put(_ name: String, _ t: Tensor, from original: String) throws {
            if out[name] != nil {
                throw CheckpointError.unsupported("tensor '\(original)' maps to '\(name)', which the checkpoint already has")
            }
            out[name] = t
        }
        outer: for (name, t) in tensors {
            for (pattern, split) in expertSplits {
                if let m = match(name, pattern),
                   let parts = try splitExperts(t, split, config: config,
                                                gated: expected.contains("model.layers.\(m.layer).mlp.experts.0.gate_proj.weight"),
                                                name: name) {
                    for (suffix, part) in parts {
                        try put("model.layers.\(m.layer).mlp.experts." + suffix, part, from: name)
                    }
                    continue outer
                }
            }
            if name.hasPrefix("model.layers.") || name.hasPrefix("model.embed_tokens.") || name == "model.norm.weight" || name == "lm_head.weight" {
                try put(name, t, from: name)
                continue
            }
            for (pattern, target) in renames {
                if let m = match(name, pattern) {
                    let base = target.replacingOccurrences(of: "#", with: String(m.layer))
                    try put(base + m.rest, t, from: name)
                    continue outer
                }
            }
            for (pattern, split) in splits {
                if let m = match(name, pattern) {
                    for (canonical, part) in try splitFused(t, split, config: config, name: name) {
                        try put("model.layers.\(m.layer)." + canonical, part, from: name)
                    }
                    continue outer
                }
            }
            try put(name, t, from: name) // unknown: reported as unexpected by bind
        }
        return out
    }

    static func splitFused(_ t: Tensor, _ split: Split, config: ModelConfig, name: String) throws -> [(String, Tensor)] {
        let q = config.qDim, kv = config.kvDim, hd = config.headDim
        guard t.shape.count == 2 else { throw CheckpointError.unsupported("fused tensor '\(name)' is not 2-D: \(t.shape)") }
        let cols = t.shape[1]
        switch split {
        case .qkvConcatenated:
            guard t.shape[0] == q + 2 * kv else {
                throw CheckpointError.unsupported("fused '\(name)' has \(t.shape[0]) rows, expected q+k+v = \(q + 2 * kv)")
            }
            return [("self_attn.q_proj.weight", rows(t, 0..<q)), ("self_attn.k_proj.weight", rows(t, q..<(q + kv))),
                    ("self_attn.v_proj.weight", rows(t, (q + kv)..<(q + 2 * kv)))]
        case .upGate:
            guard t.shape[0] % 2 == 0 else { throw CheckpointError.unsupported("fused '\(name)' has an odd row count") }
            let f = t.shape[0] / 2
            return [("mlp.up_proj.weight", rows(t, 0..<f)), ("mlp.gate_proj.weight", rows(t, f..<(2 * f)))]
        case .qkvInterleaved:
            guard t.shape[0] == q + 2 * kv else {
                throw CheckpointError.unsupported("fused '\(name)' has \(t.shape[0]) rows, expected q+k+v = \(q + 2 * kv)")
            }
            let groups = config.numKeyValueHeads, perGroup = config.numAttentionHeads / groups
            var qRows: [Range<Int>] = [], kRows: [Range<Int>] = [], vRows: [Range<Int>] = []
            for g in 0..<groups {
                let base = g * (perGroup + 2) * hd
                qRows.append(base..<(base + perGroup * hd))
                kRows.append((base + perGroup * hd)..<(base + (perGroup + 1) * hd))
                vRows.append((base + (perGroup + 1) * hd)..<(base + (perGroup + 2) * hd))
            }
            return [("self_attn.q_proj.weight", gather(t, qRows, cols: cols)),
                    ("self_attn.k_proj.weight", gather(t, kRows, cols: cols)),
                    ("self_attn.v_proj.weight", gather(t, vRows, cols: cols))]
        }
    }

    /// A view of contiguous rows (no copy).
    static func rows(_ t: Tensor, _ r: Range<Int>) -> Tensor {
        let rowBytes = t.shape[1] * t.dtype.byteSize
        let slice = UnsafeRawBufferPointer(rebasing: t.bytes[(r.lowerBound * rowBytes)..<(r.upperBound * rowBytes)])
        return Tensor(dtype: t.dtype, shape: [r.count, t.shape[1]], bytes: slice, storage: t.storage)
    }

    /// A copy of several row ranges stacked in order.
    static func gather(_ t: Tensor, _ ranges: [Range<Int>], cols: Int) -> Tensor {
        let rowBytes = cols * t.dtype.byteSize
        var bytes = [UInt8]()
        bytes.reserveCapacity(ranges.reduce(0) { $0 + $1.count } * rowBytes)
        for r in ranges { bytes.append(contentsOf: t.bytes[(r.lowerBound * rowBytes)..<(r.upperBound * rowBytes)]) }
        let total = ranges.reduce(0) { $0 + $1.count }
        return bytes.withUnsafeBytes { Tensor(dtype: t.dtype, shape: [total, cols], copying: $0) }
    }
}
