import Foundation

/// AdamW exactly as torch.optim.AdamW (single-tensor path, amsgrad off):
///   p ← p·(1 − lr·wd);  m ← m + (1 − β1)(g − m);  v ← β2·v + (1 − β2)·g²;
///   p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + eps)
/// with weight decay only on tensors of two or more dimensions.
public struct AdamW: Sendable, Equatable {
    public var beta1: Double
    public var beta2: Double
    public var eps: Double
    public var weightDecay: Double

    public init(beta1: Double = 0.9, beta2: Double = 0.95, eps: Double = 1e-8, weightDecay: Double = 0.1) {
        (self.beta1, self.beta2, self.eps, self.weightDecay) = (beta1, beta2, eps, weightDecay)
    }

    /// Applies update number `t` (1-based) at learning rate `lr` to every trainable tensor.
    public func step(_ store: ParameterStore, lr: Double, t: Int) {
        let bc1 = 1 - pow(beta1, Double(t)), bc2Sqrt = (1 - pow(beta2, Double(t))).squareRoot()
        let stepSize = Float(lr / bc1), b2 = Float(beta2)
        let oneMinusB1 = Float(1 - beta1), oneMinusB2 = Float(1 - beta2), epsF = Float(eps), bc2 = Float(bc2Sqrt)
        for slot in store.slots {
            guard let state = slot.stateOffset else { continue }
            let decay = slot.decays ? Float(1 - lr * weightDecay) : 1
            let p = store.params.pointer + slot.offset, g = store.grads.pointer + state
            let m = store.m.pointer + state, v = store.v.pointer + state
            for j in 0..<slot.count {
                let gj = g[j]
                p[j] *= decay
                m[j] += oneMinusB1 * (gj - m[j])
                v[j] = b2 * v[j] + oneMinusB2 * gj * gj
                p[j] -= stepSize * m[j] / (v[j].squareRoot() / bc2 + epsF)
            }
        }
    }
}
