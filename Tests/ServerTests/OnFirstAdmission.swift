@testable import Server
import Engine
import TestSupport

/// Runs `action` on the engine thread when the engine admits its first sequence, before
/// that sequence's first forward pass, and passes every event on to `next` (the service's
/// metrics). The engine holds its observer weakly: the test keeps this one alive.
final class OnFirstAdmission: EngineObserver, @unchecked Sendable {
    let next: EngineObserver
    let action: @Sendable () -> Void
    let admissions = Shared(0)

    init(forwardingTo next: EngineObserver, _ action: @escaping @Sendable () -> Void) {
        self.next = next
        self.action = action
    }

    func sequenceStarted(promptTokens: Int, reusedTokens: Int, computedTokens: Int) {
        if admissions.value == 0 { action() }
        admissions.update { $0 += 1 }
        next.sequenceStarted(promptTokens: promptTokens, reusedTokens: reusedTokens, computedTokens: computedTokens)
    }

    func tokenGenerated(interTokenSeconds: Double?, timeToFirstTokenSeconds: Double?) {
        next.tokenGenerated(interTokenSeconds: interTokenSeconds, timeToFirstTokenSeconds: timeToFirstTokenSeconds)
    }

    func sequenceFinished(_ reason: FinishReason) { next.sequenceFinished(reason) }
}
