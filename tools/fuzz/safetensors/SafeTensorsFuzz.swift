import Checkpoint
import FuzzSupport
import Kernels

/// libFuzzer entry point: any bytes as a whole safetensors file. The header must be
/// accepted or refused with a `CheckpointError`; accepted, every tensor view it yields
/// must lie inside the file (a view past the end would read outside the mapping).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let file = UnsafeRawBufferPointer(start: data, count: size)
    guard let header = try? SafeTensorsHeader(file: file, path: "fuzz") else { return 0 }
    for entry in header.entries.values {
        let start = header.dataOffset + entry.range.lowerBound
        precondition(entry.range.lowerBound >= 0 && start + entry.range.count <= size,
                     "tensor '\(entry.name)' spans \(start)..<\(start + entry.range.count) of a \(size)-byte file")
        precondition(entry.shape.reduce(1, *) * entry.dtype.byteSize == entry.range.count, "tensor '\(entry.name)' size mismatch")
    }
    return 0
}

@_cdecl("fuzz_safetensors_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { fuzzSafeTensors($0, $1) }
}
