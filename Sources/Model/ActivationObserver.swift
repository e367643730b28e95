import Kernels

/// Called at each named intermediate of a forward pass with its F32 values, row-major
/// [shape] — llama.cpp's named tensors. The pointer is valid only during the call (it is
/// workspace memory the pass reuses); copy what you keep. Without an observer nothing is
/// named or copied.
///
/// Names, in the order they occur (N tokens of the batch, R rows that get logits):
///
///     embed                           [N, D]      token embeddings (transformers' hidden_states[0])
///     layers.{i}.attn_norm            [N, D]      input_layernorm(x)
///     layers.{i}.attn.q               [N, H·hd]   queries after QK-norm, clip_qkv and RoPE
///     layers.{i}.attn.k               [N, KV·hd]  keys, the same (what the KV cache stores)
///     layers.{i}.attn.v               [N, KV·hd]  values (after clip_qkv)
///     layers.{i}.attn.context         [N, H·hd]   softmax(q·kᵀ/√hd)·v per head, o_proj's input
///     layers.{i}.attn_out             [N, D]      o_proj output
///     layers.{i}.attn_residual        [N, D]      x + attn_out
///     layers.{i}.mlp_norm             [N, D]      post_attention_layernorm(attn_residual)
///     layers.{i}.mlp.gate             [N, F]      gate_proj output (gated MLPs)
///     layers.{i}.mlp.up               [N, F]      up_proj output
///     layers.{i}.mlp.act              [N, F]      act(up), or act(gate) · up: down_proj's input
///     layers.{i}.mlp.router           [N, E]      router probabilities (MoE; softmax over experts)
///     layers.{i}.mlp.experts.{e}.gate [n_e, F]    the same three per expert, for the n_e tokens
///     layers.{i}.mlp.experts.{e}.up   [n_e, F]      routed to it, in token order (MoE; experts
///     layers.{i}.mlp.experts.{e}.act  [n_e, F]      no token chose are not named)
///     layers.{i}.mlp_out              [N, D]      the feed-forward block's output
///     layers.{i}.out                  [N, D]      attn_residual + mlp_out: the layer's output
///     final_norm                      [R, D]      model.norm of the rows that get logits
///     logits                          [R, V]
///
/// transformers' `output_hidden_states` are `embed`, `layers.{i}.out` for all layers but
/// the last, then `final_norm` (not the last layer's output).
public typealias ActivationObserver = (_ name: String, _ values: UnsafePointer<Float>, _ shape: [Int]) -> Void

/// What one forward pass hands to every block: compute options, work buffers, observer.
public struct ForwardPass {
    let options: ComputeOptions
    let work: Workspace
    let observer: ActivationObserver?
    /// OpenBLAS does the weight products and splits each one itself (f32 weights); then it
    /// also runs attention's prefill products, one head after another.
    let blasSplitsProducts: Bool
    /// Workers attention's prefill heads are split over.
    var headWorkers: Int { blasSplitsProducts ? 1 : options.threads }
    /// The layer running, for names.
    var layer = 0

    /// Names are built only when someone listens.
    func observe(_ name: @autoclosure () -> String, _ values: UnsafePointer<Float>, _ shape: @autoclosure () -> [Int]) {
        if let observer { observer(name(), values, shape()) }
    }

    /// `layers.{layer}.` + `name`.
    func observeLayer(_ name: @autoclosure () -> String, _ values: UnsafePointer<Float>, _ shape: @autoclosure () -> [Int]) {
        if let observer { observer("layers.\(layer)." + name(), values, shape()) }
    }
}
