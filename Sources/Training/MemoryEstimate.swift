import Checkpoint
import Kernels
import Foundation

/// Peak memory of a training run, by part, printed before it starts.
public struct MemoryEstimate: Sendable {
    public let weights: Int
    public let gradients: Int
    public let optimizer: Int
    public let activations: Int
    /// The checkpoint file, mapped while its tensors are converted to f32 and released before
    /// training writes gradients, moments or activations (zeroed lazily, FloatBuffer), so the
    /// peak is the larger of the two phases, not their sum (a 1.3 B run measured 20.39 GiB
    /// against 22.85 summed and 20.34 this way).
    public let checkpoint: Int
    public var total: Int { weights + max(checkpoint, gradients + optimizer + activations) }

    /// Weights as ParameterStore holds them (f32, frozen bf16 / f16 matrices in their `stored`
    /// dtype); gradients and two AdamW moments of the trainable tensors only (the non-`frozen`
    /// ones, or a LoRA run's adapters, whose base is all frozen); one pass of activations
    /// (with the adapters' own).
    public init(config: ModelConfig, specs: [WeightSpec], stored: [String: DType], frozen: Set<String>, checkpointBytes: Int,
                seqLen: Int, batchSize: Int, recompute: Bool, lora: LoRAConfig? = nil) throws {
        checkpoint = checkpointBytes
        let frozen = lora == nil ? frozen : Set(specs.map(\.name))
        var weightBytes = 0, trainable = 0, adapterActivations = 0
        for s in specs {
            let isFrozen = frozen.contains(s.name)
            let keeps = isFrozen && stored[s.name].map { ParameterStore.keepsStoredDType($0, shape: s.shape) } == true
            weightBytes += s.count * (keeps ? 2 : 4)
            if !isFrozen { trainable += s.count }
        }
        if let lora {
            // Adapted projections: A [r, in] and B [out, r]; u and its gradient [N, r]
            // (and the dropout mask and scratch [N, in]) per pass.
            let adapted = specs.filter { s in s.shape.count == 2 && s.name.hasPrefix("model.layers.")
                && lora.targets.contains { s.name.hasSuffix("." + $0 + ".weight") } }
            trainable = adapted.reduce(0) { $0 + lora.rank * ($1.shape[0] + $1.shape[1]) }
            let N = seqLen * batchSize
            adapterActivations = 4 * adapted.reduce(0) { $0 + N * 2 * lora.rank + (lora.dropout > 0 ? 2 * N * $1.shape[1] : 0) }
            weightBytes += trainable * 4
        }
        weights = weightBytes
        gradients = trainable * 4
        optimizer = trainable * 8
        activations = try DecoderTrainingModel.activationBytes(config, seqLen: seqLen, sequences: batchSize, recompute: recompute)
            + adapterActivations
    }

    public var summary: String {
        func gib(_ b: Int) -> String { String(format: "%.2f GiB", Double(b) / Double(1 << 30)) }
        return "estimated peak memory \(gib(total)): weights \(gib(weights)), gradients \(gib(gradients)), "
            + "optimizer \(gib(optimizer)), activations \(gib(activations)); the checkpoint (\(gib(checkpoint))) is mapped only while loading"
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
