import Checkpoint
import Foundation

/// Peak memory of a training run, by part, printed before it starts.
public struct MemoryEstimate: Sendable {
    public let weights: Int
    public let gradients: Int
    public let optimizer: Int
    public let activations: Int
    /// The checkpoint file, mapped while its tensors are converted to f32.
    public let checkpoint: Int
    public var total: Int { weights + gradients + optimizer + activations + checkpoint }

    /// f32 master weights, gradients and two AdamW moments (the store allocates all four for
    /// every tensor), plus one pass of activations.
    public init(config: ModelConfig, parameters: Int, checkpointBytes: Int, seqLen: Int, batchSize: Int, recompute: Bool) throws {
        checkpoint = checkpointBytes
        weights = parameters * 4
        gradients = parameters * 4
        optimizer = parameters * 8
        activations = try DecoderTrainingModel.activationBytes(config, seqLen: seqLen, sequences: batchSize, recompute: recompute)
    }

    public var summary: String {
        func gib(_ b: Int) -> String { String(format: "%.2f GiB", Double(b) / Double(1 << 30)) }
        return "estimated peak memory \(gib(total)): weights \(gib(weights)), gradients \(gib(gradients)), "
            + "optimizer \(gib(optimizer)), activations \(gib(activations)), checkpoint being loaded \(gib(checkpoint))"
    }

    /// Physical memory of this machine (or the cgroup limit, when lower).
    public static var machineBytes: Int {
        var bytes = Int(ProcessInfo.processInfo.physicalMemory)
        for path in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
            if let s = try? String(contentsOfFile: path, encoding: .utf8),
               let limit = Int(s.trimmingCharacters(in: .whitespacesAndNewlines)), limit > 0 {
                bytes = min(bytes, limit)
            }
        }
        return bytes
    }
}
