/// Everything that can be wrong with a checkpoint folder, each case saying where and why.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case io(path: String, reason: String)
    case invalidSafeTensors(path: String, reason: String)
    case missingTensor(name: String)
    case noWeights(folder: String)
    case invalidIndex(path: String, reason: String)
    case invalidConfig(path: String, reason: String)
    case tensorMismatch(missing: [String], unexpected: [String], misshaped: [String])
    case unsupported(String)

    public var description: String {
        switch self {
        case .io(let path, let reason):
            return "\(path): \(reason)"
        case .invalidSafeTensors(let path, let reason):
            return "\(path): not a valid safetensors file: \(reason)"
        case .missingTensor(let name):
            return "tensor '\(name)' is not in the checkpoint"
        case .noWeights(let folder):
            return "\(folder): no model.safetensors, model.safetensors.index.json or *.safetensors file"
        case .invalidIndex(let path, let reason):
            return "\(path): invalid shard index: \(reason)"
        case .invalidConfig(let path, let reason):
            return "\(path): \(reason)"
        case .tensorMismatch(let missing, let unexpected, let misshaped):
            var lines = ["checkpoint tensors do not match the model config:"]
            if !missing.isEmpty { lines.append("  missing (\(missing.count)): " + missing.joined(separator: ", ")) }
            if !unexpected.isEmpty { lines.append("  unexpected (\(unexpected.count)): " + unexpected.joined(separator: ", ")) }
            if !misshaped.isEmpty { lines.append("  wrong shape (\(misshaped.count)): " + misshaped.joined(separator: "; ")) }
            return lines.joined(separator: "\n")
        case .unsupported(let what):
            return what
        }
    }
}
