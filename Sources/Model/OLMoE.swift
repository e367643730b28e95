import Checkpoint
import Kernels

/// OLMoE-style mixture of experts (issue 4). Until it lands, loading refuses clearly.
public enum OLMoE: Architecture {
    public static func weights(_ c: ModelConfig) -> [WeightSpec] {
        let D = c.hiddenSize, F = c.intermediateSize, E = c.numExperts ?? 0
        var specs = [WeightSpec("model.embed_tokens.weight", [c.vocabSize, D])]
        for i in 0..<c.numHiddenLayers {
            let p = "model.layers.\(i)."
            specs += [
                WeightSpec(p + "input_layernorm.weight", [D]),
                WeightSpec(p + "self_attn.q_proj.weight", [c.qDim, D]),
                WeightSpec(p + "self_attn.k_proj.weight", [c.kvDim, D]),
                WeightSpec(p + "self_attn.v_proj.weight", [c.kvDim, D]),
                WeightSpec(p + "self_attn.o_proj.weight", [D, c.qDim]),
                WeightSpec(p + "self_attn.q_norm.weight", [c.qDim]),
                WeightSpec(p + "self_attn.k_norm.weight", [c.kvDim]),
                WeightSpec(p + "post_attention_layernorm.weight", [D]),
                WeightSpec(p + "mlp.gate.weight", [E, D]),
            ]
            for e in 0..<E {
                let x = p + "mlp.experts.\(e)."
                specs += [WeightSpec(x + "up_proj.weight", [F, D]), WeightSpec(x + "down_proj.weight", [D, F])]
                if c.isGated { specs.append(WeightSpec(x + "gate_proj.weight", [F, D])) }
            }
            if c.hiddenAct.isPolynomial {
                specs += [WeightSpec(p + "mlp.act_fn.weight", [3]), WeightSpec(p + "mlp.act_fn.bias", [1])]
            }
        }
        specs.append(WeightSpec("model.norm.weight", [D]))
        if !c.tieWordEmbeddings { specs.append(WeightSpec("lm_head.weight", [c.vocabSize, D])) }
        return specs
    }

    public static func build(_ c: ModelConfig, _ w: [String: Tensor]) throws -> DecoderModel {
        throw CheckpointError.unsupported("olmoe models cannot run yet (mixture-of-experts forward pass not implemented)")
    }
}
