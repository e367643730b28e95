import Checkpoint
import Foundation
import FuzzSupport
import Model

/// libFuzzer entry point: any bytes as config.json (and as generation_config.json), through
/// what loading a checkpoint does before it opens the weights: the generic checks, the
/// architecture's own, and the tensor table the weights are bound against. Each must refuse
/// with an error or give a table of positive shapes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = Data(bytes(data, size))
    _ = try? GenerationConfig.decode([UInt8](input))
    guard let config = try? ModelConfig.decode(input), let arch = try? Architectures.of(config) else { return 0 }
    let specs = arch.weights(config)
    for spec in specs {
        precondition(spec.shape.allSatisfy { $0 > 0 }, "\(spec.name) has shape \(spec.shape)")
    }
    let count = arch.parameterCount(config)
    precondition(count.total > 0 && count.active > 0 && count.active <= count.total, "parameter count \(count)")
    _ = arch.summary(config)
    _ = stopTokenIds(config: config, generationConfig: nil, tokenizerEOS: nil)
    return 0
}

@_cdecl("fuzz_config_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { fuzzConfig($0, $1) }
}
