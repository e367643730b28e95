import ArgumentParser
import Checkpoint
import Foundation
import JSON
import Kernels
import Model

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a checkpoint folder: architecture, parameters, dtypes, memory.",
        discussion: "A folder with only config.json is enough; weights are described when present.")

    @Argument(help: "Checkpoint folder (config.json, *.safetensors).")
    var model: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let folder = try CheckpointFolder(path: model, requireWeights: false)
        let c = folder.config
        let arch = try Architectures.of(c, path: model + "/config.json")
        let params = arch.parameterCount(c)
        var dtypeCounts: [String: Int] = [:]
        var storedBytes = 0
        for name in folder.tensorNames {
            let t = try folder.tensor(name)
            dtypeCounts[t.dtype.rawValue, default: 0] += t.count
            storedBytes += t.bytes.count
        }
        // Without weights, estimate from the config's dtype (bf16, as the released models, when it names none).
        let declared = c.torchDtype ?? "bfloat16"
        let bytesPerParameter = ["float64": 8, "float32": 4][declared] ?? 2
        let weightBytes = folder.hasWeights ? storedBytes : params.total * bytesPerParameter
        let kvPerToken = c.kvCacheBytesPerPosition
        let kvFull = kvPerToken * c.maxPositionEmbeddings

        if json {
            var o = JSONObject()
            o["model_type"] = .string(c.modelType)
            o["hidden_act"] = .string(c.hiddenAct.rawValue)
            o["layers"] = .int(c.numHiddenLayers)
            o["hidden_size"] = .int(c.hiddenSize)
            o["intermediate_size"] = .int(c.intermediateSize)
            o["heads"] = .int(c.numAttentionHeads)
            o["kv_heads"] = .int(c.numKeyValueHeads)
            o["head_dim"] = .int(c.headDim)
            o["vocab_size"] = .int(c.vocabSize)
            if let e = c.numExperts { o["experts"] = .int(e); o["experts_per_token"] = .int(c.numExpertsPerTok ?? 0) }
            o["parameters"] = .int(params.total)
            o["active_parameters"] = .int(params.active)
            o["dtypes"] = .object(JSONObject(dtypeCounts.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) }))
            o["weights_present"] = .bool(folder.hasWeights)
            o["weight_bytes"] = .int(weightBytes)
            o["kv_cache_bytes_per_token"] = .int(kvPerToken)
            o["blas"] = .string(BLASCore.name)
            print(JSONValue.object(o).serialized(pretty: true))
            return
        }
        print("model        \(model)")
        print("architecture \(c.modelType): \(arch.summary(c))")
        print("activation   \(c.hiddenAct.rawValue)")
        print("shape        \(c.numHiddenLayers) layers, hidden \(c.hiddenSize), \(c.numAttentionHeads) heads × \(c.headDim)"
              + (c.numKeyValueHeads != c.numAttentionHeads ? " (\(c.numKeyValueHeads) KV heads)" : "")
              + ", intermediate \(c.intermediateSize), vocab \(c.vocabSize)")
        if let e = c.numExperts {
            print("experts      \(e), top-\(c.numExpertsPerTok ?? 0)\(c.normTopkProb ? " (renormalised)" : "")")
        }
        print("rope         theta \(formatNumber(c.ropeTheta)), context \(c.maxPositionEmbeddings)"
              + (c.tieWordEmbeddings ? ", tied embeddings" : ""))
        print("parameters   \(grouped(params.total)) (\(human(Double(params.total))))")
        if params.active != params.total {
            print("active       \(grouped(params.active)) per token (\(human(Double(params.active))))")
        }
        if folder.hasWeights {
            let list = dtypeCounts.sorted { $0.key < $1.key }.map { "\($0.key) \(grouped($0.value))" }.joined(separator: ", ")
            print("dtypes       \(list) in \(folder.files.count) file(s)")
            print("memory       weights \(bytes(weightBytes)) (mapped, not copied)")
        } else {
            print("weights      none in folder (estimate for \(declared): \(bytes(weightBytes)))")
        }
        print("kv cache     \(bytes(kvPerToken)) per token, \(bytes(kvFull)) for a full \(c.maxPositionEmbeddings)-token context")
        print("runtime      \(BLASCore.summary)")
        print("             \(MallocHugePages.summary)")
    }
}

func grouped(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (i, ch) in s.enumerated() {
        if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return out
}

func human(_ n: Double) -> String {
    n >= 1e9 ? String(format: "%.2f B", n / 1e9) : n >= 1e6 ? String(format: "%.2f M", n / 1e6) : String(format: "%.1f K", n / 1e3)
}

func bytes(_ n: Int) -> String {
    let d = Double(n), gib = Double(1 << 30), mib = Double(1 << 20)
    return d >= gib ? String(format: "%.2f GiB", d / gib)
        : d >= mib ? String(format: "%.1f MiB", d / mib) : String(format: "%.1f KiB", d / 1024)
}

func formatNumber(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : String(x) }
