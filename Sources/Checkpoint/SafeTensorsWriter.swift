import Foundation
import JSON
import Kernels

/// Writes tensors in the safetensors layout: 8-byte header length, a JSON header padded
/// with spaces to a multiple of 8, then the tensors' bytes back to back.
public enum SafeTensorsWriter {
    public static func write(_ tensors: [String: Tensor], to path: String,
                             metadata: [String: String] = ["format": "pt"]) throws {
        // Largest alignment first keeps every tensor naturally aligned in the mapping.
        let names = tensors.keys.sorted {
            let a = tensors[$0]!.dtype.byteSize, b = tensors[$1]!.dtype.byteSize
            return a != b ? a > b : $0 < $1
        }
        var header = JSONObject()
        if !metadata.isEmpty {
            header["__metadata__"] = .object(JSONObject(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
        }
        var offset = 0
        for name in names {
            let t = tensors[name]!
            header[name] = [
                "dtype": .string(t.dtype.rawValue),
                "shape": .array(t.shape.map { .int($0) }),
                "data_offsets": [.int(offset), .int(offset + t.bytes.count)],
            ]
            offset += t.bytes.count
        }
        var headerBytes = Array(JSONValue.object(header).serialized().utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }

        var data = Data(capacity: 8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: headerBytes)
        for name in names where tensors[name]!.bytes.count > 0 {
            data.append(contentsOf: tensors[name]!.bytes)
        }
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw CheckpointError.io(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }
}
