import Foundation

/// The learning rate of optimizer step s (0-based): linear warmup over W steps to `peak`,
/// then cosine (default), linear or constant down to `peak · minRatio` at step S.
public struct LearningRateSchedule: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case cosine, linear, constant }

    public var kind: Kind
    public var peak: Double
    public var warmupSteps: Int
    public var totalSteps: Int
    public var minRatio: Double

    public init(kind: Kind = .cosine, peak: Double, warmupSteps: Int, totalSteps: Int, minRatio: Double) {
        (self.kind, self.peak, self.warmupSteps, self.totalSteps, self.minRatio) = (kind, peak, warmupSteps, totalSteps, minRatio)
    }

    public func rate(step s: Int) -> Double {
        if s < warmupSteps { return peak * Double(s + 1) / Double(warmupSteps) }
        let lo = peak * minRatio
        let progress = Double(s - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
        switch kind {
        case .cosine: return lo + (peak - lo) * 0.5 * (1 + cos(Double.pi * progress))
        case .linear: return lo + (peak - lo) * max(0, 1 - progress)
        case .constant: return peak
        }
    }
}
