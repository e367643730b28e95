import Kernels

/// A safetensors file mapped into memory: tensors are views, never copies.
public final class SafeTensorsFile: @unchecked Sendable {
    public let path: String
    public let header: SafeTensorsHeader
    /// The bytes the tensors view; outlives this object while any tensor does.
    public let mapping: MappedFile

    public init(path: String, loading: WeightLoading = .mapped) throws {
        self.path = path
        mapping = try MappedFile(path: path, loading: loading, alignedOffset: SafeTensorsHeader.dataOffset(ofFileAt: path) ?? 0)
        header = try SafeTensorsHeader(file: mapping.bytes, path: path)
    }

    /// The file as it was opened.
    public var snapshot: FileSnapshot { mapping.snapshot }

    public var names: [String] { header.entries.keys.sorted() }
    public var metadata: [String: String] { header.metadata }

    public func contains(_ name: String) -> Bool { header.entries[name] != nil }

    public func tensor(_ name: String) throws -> Tensor {
        guard let entry = header.entries[name] else { throw CheckpointError.missingTensor(name: name) }
        let start = header.dataOffset + entry.range.lowerBound
        let view = entry.range.isEmpty
            ? UnsafeRawBufferPointer(start: nil, count: 0)
            : UnsafeRawBufferPointer(rebasing: mapping.bytes[start..<(start + entry.range.count)])
        return Tensor(dtype: entry.dtype, shape: entry.shape, bytes: view, storage: mapping)
    }

    /// Every tensor of the file, by name.
    public func tensors() throws -> [String: Tensor] {
        var all: [String: Tensor] = [:]
        for name in header.entries.keys { all[name] = try tensor(name) }
        return all
    }
}
