import Checkpoint
import Kernels

/// Dense Llama-family models: `polyllama` (PolyCom plain MLP: down(act(up(x))) with a
/// learned PolyNorm / PolyReLU) and stock `llama` (gated SwiGLU), both with GQA and RoPE.
public enum Llama: Architecture {
    public static func weights(_ c: ModelConfig) -> [WeightSpec] {
        let D = c.hiddenSize, F = c.intermediateSize
        var specs = [WeightSpec("model.embed_tokens.weight", [c.vocabSize, D])]
        for i in 0..<c.numHiddenLayers {
            let p = "model.layers.\(i)."
            specs += [
                WeightSpec(p + "input_layernorm.weight", [D]),
                WeightSpec(p + "self_attn.q_proj.weight", [c.qDim, D]),
                WeightSpec(p + "self_attn.k_proj.weight", [c.kvDim, D]),
                WeightSpec(p + "self_attn.v_proj.weight", [c.kvDim, D]),
                WeightSpec(p + "self_attn.o_proj.weight", [D, c.qDim]),
                WeightSpec(p + "post_attention_layernorm.weight", [D]),
                WeightSpec(p + "mlp.up_proj.weight", [F, D]),
                WeightSpec(p + "mlp.down_proj.weight", [D, F]),
            ]
            if c.isGated { specs.append(WeightSpec(p + "mlp.gate_proj.weight", [F, D])) }
            if c.hiddenAct.isPolynomial {
                specs += [WeightSpec(p + "mlp.act_fn.weight", [3]), WeightSpec(p + "mlp.act_fn.bias", [1])]
            }
        }
        specs.append(WeightSpec("model.norm.weight", [D]))
        if !c.tieWordEmbeddings { specs.append(WeightSpec("lm_head.weight", [c.vocabSize, D])) }
        return specs
    }

    public static func build(_ c: ModelConfig, _ w: [String: Tensor]) throws -> DecoderModel {
        let layers = (0..<c.numHiddenLayers).map { i -> DecoderLayer in
            let p = "model.layers.\(i)."
            let activation = c.hiddenAct.isPolynomial
                ? MLPActivation(kind: c.hiddenAct, weight: w[p + "mlp.act_fn.weight"]!.floats(),
                                bias: w[p + "mlp.act_fn.bias"]!.floats())
                : MLPActivation(kind: c.hiddenAct)
            let mlp = DenseMLP(up: Matrix(w[p + "mlp.up_proj.weight"]!), down: Matrix(w[p + "mlp.down_proj.weight"]!),
                               gate: c.isGated ? Matrix(w[p + "mlp.gate_proj.weight"]!) : nil, activation: activation)
            return DecoderLayer(
                inputNorm: w[p + "input_layernorm.weight"]!.floats(),
                attention: Attention(q: Matrix(w[p + "self_attn.q_proj.weight"]!), k: Matrix(w[p + "self_attn.k_proj.weight"]!),
                                     v: Matrix(w[p + "self_attn.v_proj.weight"]!), o: Matrix(w[p + "self_attn.o_proj.weight"]!),
                                     config: c),
                postAttentionNorm: w[p + "post_attention_layernorm.weight"]!.floats(),
                feedForward: mlp)
        }
        let embedding = Matrix(w["model.embed_tokens.weight"]!)
        return DecoderModel(config: c, embedding: embedding, layers: layers, finalNorm: w["model.norm.weight"]!.floats(),
                            lmHead: c.tieWordEmbeddings ? embedding : Matrix(w["lm_head.weight"]!))
    }
}
