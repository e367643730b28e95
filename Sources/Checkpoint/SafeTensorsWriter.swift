#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Foundation
import JSON
import Kernels

/// Writes tensors in the safetensors layout: 8-byte header length, a JSON header padded
/// with spaces to a multiple of 8, then the tensors' bytes back to back.
///
/// Streams: the header, then each tensor straight from its memory (converted one tensor at
/// a time when `dtype` asks for another float type), so writing a model never holds a
/// second copy of it. The file appears under its name only when complete (`DurableFile`).
public enum SafeTensorsWriter {
    public static func write(_ tensors: [String: Tensor], to path: String,
                             metadata: [String: String] = ["format": "pt"], dtype: DType? = nil) throws {
        func stored(_ t: Tensor) -> DType { dtype.map { t.dtype.isFloatingPoint ? $0 : t.dtype } ?? t.dtype }
        // Largest alignment first keeps every tensor naturally aligned in the mapping.
        let names = tensors.keys.sorted {
            let a = stored(tensors[$0]!).byteSize, b = stored(tensors[$1]!).byteSize
            return a != b ? a > b : $0 < $1
        }
        var header = JSONObject()
        if !metadata.isEmpty {
            header["__metadata__"] = .object(JSONObject(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
        }
        var offset = 0
        for name in names {
            let t = tensors[name]!
            let size = t.count * stored(t).byteSize
            header[name] = [
                "dtype": .string(stored(t).rawValue),
                "shape": .array(t.shape.map { .int($0) }),
                "data_offsets": [.int(offset), .int(offset + size)],
            ]
            offset += size
        }
        var headerBytes = Array(JSONValue.object(header).serialized().utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }

        try DurableFile.write(to: path) { put in
            guard withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian, { put($0) }),
                  headerBytes.withUnsafeBytes({ put($0) }) else { return }
            for name in names {
                let t = tensors[name]!
                let bytes = t.converted(to: stored(t))
                guard withExtendedLifetime(bytes, { put(bytes.bytes) }) else { return }
            }
        }
    }
}
