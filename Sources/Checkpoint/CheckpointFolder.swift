import Foundation
import JSON
import Kernels

/// A Hugging Face model folder: config.json plus weights in one safetensors file or in
/// shards listed by model.safetensors.index.json.
public final class CheckpointFolder: @unchecked Sendable {
    public let path: String
    public let config: ModelConfig
    /// Tensor name → the file that holds it.
    private let fileOf: [String: SafeTensorsFile]
    public let files: [SafeTensorsFile]

    /// Opens the folder. With `requireWeights: false` a folder with only config.json is
    /// accepted (enough for `polycom inspect`).
    public init(path: String, requireWeights: Bool = true, loading: WeightLoading = .mapped) throws {
        self.path = path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw CheckpointError.io(path: path, reason: "does not exist")
        }
        guard isDir.boolValue else { throw CheckpointError.io(path: path, reason: "not a directory (a checkpoint is a folder)") }
        config = try ModelConfig.load(path: path + "/config.json")
        let shardPaths = try Self.weightFiles(in: path)
        if shardPaths.isEmpty && requireWeights { throw CheckpointError.noWeights(folder: path) }
        files = try shardPaths.map { try SafeTensorsFile(path: $0, loading: loading) }
        var fileOf: [String: SafeTensorsFile] = [:]
        for file in files {
            for name in file.names {
                if let other = fileOf[name] {
                    throw CheckpointError.invalidIndex(path: path, reason: "tensor '\(name)' is in both \(other.path) and \(file.path)")
                }
                fileOf[name] = file
            }
        }
        self.fileOf = fileOf
        try checkIndex()
    }

    public var tensorNames: [String] { fileOf.keys.sorted() }
    public var hasWeights: Bool { !files.isEmpty }

    public func tensor(_ name: String) throws -> Tensor {
        guard let file = fileOf[name] else { throw CheckpointError.missingTensor(name: name) }
        return try file.tensor(name)
    }

    /// The shard files named by the index, or model.safetensors, or every *.safetensors.
    private static func weightFiles(in folder: String) throws -> [String] {
        let fm = FileManager.default
        let indexPath = folder + "/model.safetensors.index.json"
        if fm.fileExists(atPath: indexPath) {
            let map = try weightMap(indexPath)
            let names = Set(map.values).sorted()
            for name in names where !fm.fileExists(atPath: folder + "/" + name) {
                throw CheckpointError.invalidIndex(path: indexPath, reason: "shard '\(name)' does not exist")
            }
            return names.map { folder + "/" + $0 }
        }
        if fm.fileExists(atPath: folder + "/model.safetensors") { return [folder + "/model.safetensors"] }
        let all = (try? fm.contentsOfDirectory(atPath: folder)) ?? []
        return all.filter { $0.hasSuffix(".safetensors") }.sorted().map { folder + "/" + $0 }
    }

    private static func weightMap(_ indexPath: String) throws -> [String: String] {
        guard let bytes = FileManager.default.contents(atPath: indexPath) else {
            throw CheckpointError.io(path: indexPath, reason: "cannot read")
        }
        let json: JSONValue
        do { json = try JSONValue.parse([UInt8](bytes)) } catch {
            throw CheckpointError.invalidIndex(path: indexPath, reason: "\(error)")
        }
        guard let map = json["weight_map"]?.objectValue else {
            throw CheckpointError.invalidIndex(path: indexPath, reason: "no weight_map object")
        }
        var result: [String: String] = [:]
        for (name, file) in map.entries {
            guard let f = file.stringValue, !f.contains("/") else {
                throw CheckpointError.invalidIndex(path: indexPath, reason: "weight_map entry '\(name)' is not a file name")
            }
            result[name] = f
        }
        return result
    }

    /// Every tensor the index promises must be in the shard it names.
    private func checkIndex() throws {
        let indexPath = path + "/model.safetensors.index.json"
        guard FileManager.default.fileExists(atPath: indexPath) else { return }
        for (name, file) in try Self.weightMap(indexPath) {
            guard let holder = fileOf[name], holder.path.hasSuffix("/" + file) else {
                throw CheckpointError.invalidIndex(path: indexPath, reason: "tensor '\(name)' is not in shard '\(file)'")
            }
        }
    }
}
