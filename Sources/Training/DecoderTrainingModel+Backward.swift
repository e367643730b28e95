import Kernels
import PolyKernels

/// The backward pass: the forward's steps in reverse, gradients of parameters accumulated.
extension DecoderTrainingModel {
    /// Cross-entropy, LM head, final norm, layers, embedding. Returns the summed loss.
    /// `routerScale` weighs the router losses' gradient (MoE).
    func backward(B: Int, lossScale: Float, routerScale: Float = 1) -> Double {
        let c = config, N = B * seqLen, D = c.hiddenSize, V = c.vocabSize
        let dlogits = acts.logits.pointer
        let loss = pk_cross_entropy_backward(dlogits, dlogits, acts.targets, N, V, lossScale)
        head.backward(dx: acts.dNorm.pointer, dlogits, acts.normFinal.pointer, N: N, I: D, O: V)
        acts.dResidual.pointer.update(repeating: 0, count: N * D)
        pk_rmsnorm_backward(acts.dResidual.pointer, finalNorm.g, acts.dNorm.pointer, acts.inputs[layers.count].pointer,
                            finalNorm.w, acts.rstdFinal.pointer, N, D)
        for l in stride(from: layers.count - 1, through: 0, by: -1) {
            if acts.recompute { forwardLayer(l, B: B) }
            backwardLayer(l, B: B, routerScale: routerScale)
        }
        if let dE = embedding.g {
            // transformers builds the embedding as nn.Embedding(padding_idx: pad_token_id),
            // whose lookup never sends a gradient to the pad row.
            let dx = acts.dResidual.pointer, pad = c.padTokenId.map(Int32.init) ?? -1
            for i in 0..<N where acts.tokens[i] != pad {
                pk_scale_add(dE + Int(acts.tokens[i]) * D, dx + i * D, 1, D)
            }
        }
        return loss
    }

    /// dResidual holds ∂L/∂(layer output) on entry and ∂L/∂(layer input) on return.
    func backwardLayer(_ l: Int, B: Int, routerScale: Float) {
        let c = config, w = layers[l], a = acts.layer(l)
        let N = B * seqLen, D = c.hiddenSize, F = c.intermediateSize
        let x = acts.inputs[l].pointer, dres = acts.dResidual.pointer, dnorm = acts.dNorm.pointer

        // out = mid + mlp(norm2)
        var dcoef: [Float] = [0, 0, 0, 0]
        switch w.feedForward {
        case let .dense(up, down, gate):
            down.backward(dx: acts.dAct.pointer, dres, a.act.pointer, N: N, I: F, O: D)
            activation.backward(dup: acts.dUp.pointer, dgate: acts.dGate?.pointer, dcoef: &dcoef, dout: acts.dAct.pointer,
                                up: a.up.pointer, gate: a.gate?.pointer, inv: a.polyInv.pointer, coef: w.coefficients, N: N, F: F)
            up.backward(dx: dnorm, acts.dUp.pointer, a.norm2.pointer, N: N, I: D, O: F)
            if let gate {
                gate.backward(dx: dnorm, acts.dGate!.pointer, a.norm2.pointer, N: N, I: D, O: F, accumulate: true)
            }
        case let .sparse(block):
            let saved = a.sparse!, scratch = acts.sparse!, router = routerLosses!
            dnorm.update(repeating: 0, count: N * D)
            scratch.dprobs.fill(0)
            router.addProbabilityGradient(scratch.dprobs.pointer, N: N, scale: routerScale)
            dcoef.withUnsafeMutableBufferPointer { dc in
                block.backward(dx: dnorm, dcoef: dc.baseAddress, dout: dres, x: a.norm2.pointer, saved: saved, scratch: scratch,
                               activation: activation, coef: w.coefficients, N: N) { dlogits in
                    router.addLogitGradient(dlogits, saved, N: N, scale: routerScale)
                }
            }
        }
        if let dw = w.actWeight?.g { for i in 0..<3 { dw[i] += dcoef[i] } }
        if let db = w.actBias?.g { db[0] += dcoef[3] }
        pk_rmsnorm_backward(dres, w.postNorm.g, dnorm, a.mid.pointer, w.postNorm.w, a.rstd2.pointer, N, D)

        // mid = x + o(attn(rope(q), rope(k), v))
        w.o.backward(dx: acts.dContext.pointer, dres, a.context.pointer, N: N, I: c.qDim, O: D)
        attention.backward(dq: acts.dq.pointer, dk: acts.dk.pointer, dv: acts.dv.pointer, dcontext: acts.dContext.pointer,
                           probs: a.probs.pointer, q: a.q.pointer, k: a.k.pointer, v: a.v.pointer, B: B, T: seqLen,
                           scratch: acts.attentionScratch.pointer)
        pk_rope_backward(acts.dq.pointer, c.qDim, ropeCos.pointer, ropeSin.pointer, N, c.numAttentionHeads, c.headDim)
        pk_rope_backward(acts.dk.pointer, c.kvDim, ropeCos.pointer, ropeSin.pointer, N, c.numKeyValueHeads, c.headDim)
        let (dq, dk) = backwardQKNormAndClip(w, a, N: N)
        w.q.backward(dx: dnorm, dq, a.norm1.pointer, N: N, I: D, O: c.qDim)
        w.k.backward(dx: dnorm, dk, a.norm1.pointer, N: N, I: D, O: c.kvDim, accumulate: true)
        w.v.backward(dx: dnorm, acts.dv.pointer, a.norm1.pointer, N: N, I: D, O: c.kvDim, accumulate: true)
        pk_rmsnorm_backward(dres, w.inputNorm.g, dnorm, x, w.inputNorm.w, a.rstd1.pointer, N, D)
    }

    /// clip_qkv passes gradient only where the value was inside [−clip, clip] (torch.clamp);
    /// then QK-norm's backward. Returns the gradients of the q and k projections.
    private func backwardQKNormAndClip(_ w: DecoderLayerParams, _ a: LayerActivations, N: Int)
        -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
        let c = config
        let parts = [(acts.dq, acts.dqRaw, a.qRaw, a.rstdQ, w.qNorm, c.qDim), (acts.dk, acts.dkRaw, a.kRaw, a.rstdK, w.kNorm, c.kvDim)]
        if let clip = c.clipQkv {
            for (d, _, raw, rstd, norm, width) in parts {
                let g = d.pointer, r = raw!.pointer
                for t in 0..<N {
                    for i in 0..<width {
                        // The value the forward clamped, computed as pk_rmsnorm_forward does.
                        let value = norm.map { $0.w[i] * (r[t * width + i] * rstd[t]) } ?? r[t * width + i]
                        if abs(value) > clip { g[t * width + i] = 0 }
                    }
                }
            }
            // v is kept clamped: a value at ±clip was clamped (equality before clamping has measure zero).
            let dv = acts.dv.pointer, v = a.v.pointer
            for i in 0..<(N * c.kvDim) where abs(v[i]) >= clip { dv[i] = 0 }
        }
        var out: [UnsafeMutablePointer<Float>] = []
        for (d, dRaw, raw, rstd, norm, width) in parts {
            guard let norm, let dRaw, let raw else { out.append(d.pointer); continue }
            dRaw.pointer.update(repeating: 0, count: N * width)
            pk_rmsnorm_backward(dRaw.pointer, norm.g, d.pointer, raw.pointer, norm.w, rstd.pointer, N, width)
            out.append(dRaw.pointer)
        }
        return (out[0], out[1])
    }
}
