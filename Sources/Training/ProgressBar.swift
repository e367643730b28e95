#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Foundation

/// One status line on stderr: step, loss, lr, tokens/s, ETA. Redrawn in place on a
/// terminal; a plain line every few percent otherwise (logs, pipes).
final class ProgressBar {
    let totalSteps: Int
    let log: (String) -> Void
    let terminal = isatty(2) != 0
    let start = Date()
    var firstStep: Int?

    init(totalSteps: Int, log: @escaping (String) -> Void) {
        self.totalSteps = totalSteps
        self.log = log
    }

    func update(_ r: StepResult, valLoss: Double?, tokensPerSecond: Double) {
        if firstStep == nil { firstStep = r.step - 1 }
        let done = r.step - firstStep!, left = totalSteps - r.step
        let eta = Date().timeIntervalSince(start) / Double(max(done, 1)) * Double(left)
        let width = 24, filled = width * r.step / max(totalSteps, 1)
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        var line = String(format: "step %d/%d [%@] loss %.4f lr %.2e %.0f tok/s ETA %@", r.step, totalSteps, bar, r.loss, r.lr,
                          tokensPerSecond, Self.duration(eta))
        if let valLoss { line += String(format: " val %.4f", valLoss) }
        if terminal {
            FileHandle.standardError.write(("\r" + line + "\u{1B}[K").data(using: .utf8)!)
        } else if r.step == totalSteps || valLoss != nil || r.step % max(1, totalSteps / 20) == 0 {
            log(line)
        }
    }

    func finish() { if terminal { FileHandle.standardError.write("\n".data(using: .utf8)!) } }

    static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? "\(t / 3600)h\(t % 3600 / 60)m" : t >= 60 ? "\(t / 60)m\(String(format: "%02d", t % 60))s" : "\(t)s"
    }
}
