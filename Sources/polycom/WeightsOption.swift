import ArgumentParser
import Kernels

extension WeightFormat: ExpressibleByArgument {
    static let help: ArgumentHelp = "Weights at load: auto (as stored), f32, bf16 or q8 (blocks of 32 int8 with an f16 scale, quantised at load)."
}
